"""Every protection the chaos suite claims to guard is shown to be guarded: for each mutation (the services
started without that protection, mutations/sitecustomize.py) a short pytest run of the test that guards it,
on its own Kafka, Postgres and services, must FAIL. A mutation whose guard still passes is a protection no
test would miss: this test fails, and `make chaos` with it.

Run by `make chaos` (`--chaos-mutations`), not by `make test`: each mutation is a run of a few minutes. The
report lists each mutation as caught or not, and by which test ("mutations caught" in report.json)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import CHAOS_HOME
from .infra import REPO
from .report import ChaosReport

MUTATION_TIMEOUT = 900.0  # one guarded run: its own infra and services, then the guarding tests
TEARDOWN_GRACE = 120.0  # after an interrupt, for the run to stop its services and infrastructure

pytestmark = pytest.mark.timeout(int(MUTATION_TIMEOUT + TEARDOWN_GRACE + 60))


@dataclass(frozen=True)
class Mutation:
    name: str  # CHAOS_MUTATE=<name>
    removes: str
    guards: tuple[str, ...]  # the tests that must fail without the protection (pytest node ids)


_RACES = "tests/chaos/test_races.py::"
_HANDOFFS = "tests/chaos/test_handoffs.py::"
MUTATIONS = (
    Mutation(
        "inbox",
        "the inbox: every delivery applied, redeliveries included",
        ("tests/chaos/test_redelivery.py::test_records_delivered_again_have_no_second_effect",),
    ),
    Mutation(
        "idempotency",
        "the Idempotency-Key claim: every retry is a new payment",
        (f"{_RACES}test_one_payment_sent_thirty_times_at_once_with_one_key_is_one_payment",),
    ),
    Mutation(
        "dlq",
        "the dead-letter topic: a poison record stops its consumer",
        (
            "tests/chaos/test_poison_records.py::"
            "test_poison_records_go_to_the_dead_letter_topic_and_consumers_keep_going[payment.events]",
        ),
    ),
    Mutation(
        "outbox",
        "the outbox: events published from inside the transaction, once, best effort",
        (f"{_HANDOFFS}test_an_event_committed_while_kafka_is_down_is_published_when_it_is_back",),
    ),
    Mutation(
        "offset_order",
        "offsets after the effect: a batch's offsets committed before it is applied",
        (f"{_HANDOFFS}test_a_batch_its_consumer_died_on_is_applied_after_the_restart",),
    ),
    Mutation(
        "concurrency",
        "optimistic concurrency: events appended after the latest version, whatever was read",
        (
            f"{_RACES}test_fifty_staff_linking_one_payment_at_once_link_it_once",
            f"{_RACES}test_parallel_payments_on_one_bill_settled_by_two_billing_processes_keep_it_exact",
        ),
    ),
    Mutation(
        "email_marking",
        "email marking: an email sent is never recorded as sent",
        (
            "tests/chaos/test_emails_once.py::test_an_email_accepted_just_before_postgres_went_down_is_not_sent_again",
        ),
    ),
    Mutation(
        "charge_key",
        "the processor Idempotency-Key derived from the payment: each send of a charge has a new one",
        ("tests/chaos/test_charge_once.py::test_a_crash_between_the_charge_and_its_record_charges_once",),
    ),
)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
async def test_the_mutation_is_caught_by_the_test_guarding_it(
    mutation: Mutation, chaos_report: ChaosReport, pytestconfig: pytest.Config
) -> None:
    if not pytestconfig.getoption("chaos_mutations", default=False):
        pytest.skip("mutations run with --chaos-mutations (make chaos)")
    failed = await run_guards(mutation)
    chaos_report.mutations[mutation.name] = {
        "caught": bool(failed),
        "by": ", ".join(failed) or None,
        "removes": mutation.removes,
    }
    assert failed, f"{mutation.name}: every guarding test passed without {mutation.removes}"


async def run_guards(mutation: Mutation) -> list[str]:
    """The guarding tests that FAILED (in their call, not in setup) in a run without the protection."""
    home = CHAOS_HOME / "mutations"
    home.mkdir(parents=True, exist_ok=True)
    junit = home / f"{mutation.name}.xml"
    junit.unlink(missing_ok=True)
    env = os.environ | {
        "CHAOS_MUTATE": mutation.name,
        "CHAOS_REPORT_PATH": str(home / f"{mutation.name}.json"),
    }
    argv = [sys.executable, "-m", "pytest", *mutation.guards, "-p", "no:randomly", "-q"]
    log = (home / f"{mutation.name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *argv,
        f"--junitxml={junit}",
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        await asyncio.wait_for(process.wait(), MUTATION_TIMEOUT)
    except TimeoutError:
        await _interrupt(process)
        return []
    return failed_tests(junit) if junit.exists() else []


async def _interrupt(process: asyncio.subprocess.Process) -> None:
    """Ctrl-C the run (its fixtures stop its services and infrastructure); then kill what is left of it."""
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), TEARDOWN_GRACE)
    except TimeoutError:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def failed_tests(junit: Path) -> list[str]:
    """Tests whose call failed (an assertion, a timeout); an error in setup is no catch."""
    return [
        f"{case.get('classname', '')}::{case.get('name', '')}"
        for case in ET.parse(junit).getroot().iter("testcase")  # noqa: S314 - our own pytest wrote it
        if case.find("failure") is not None
    ]


@pytest.mark.unit
def test_only_a_guarding_test_that_failed_counts_as_a_catch_not_one_that_errored_in_setup(
    tmp_path: Path,
) -> None:
    junit = tmp_path / "run.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.chaos.test_races" name="test_failed"><failure message="x"/></testcase>'
        '<testcase classname="tests.chaos.test_races" name="test_errored"><error message="setup"/></testcase>'
        '<testcase classname="tests.chaos.test_races" name="test_passed"/>'
        "</testsuite></testsuites>"
    )
    assert failed_tests(junit) == ["tests.chaos.test_races::test_failed"]
