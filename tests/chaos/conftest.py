"""Fault injection (issue #9): the suite's own Kafka and PostgreSQL (deploy/local scripts, free ports, a home
under .local/chaos/), the four services on them, and the chaos report printed at the end of the session and
written to .local/chaos/report.json.

`--chaos-full` (make chaos) runs the full profile: thousands of payments, several rounds of faults."""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import replace
from pathlib import Path

import pytest

from .infra import REPO, LocalInfra
from .profiles import FULL, QUICK, Profile
from .report import ChaosReport
from .system import ChaosSystem

CHAOS_HOME = REPO / ".local" / "chaos"
# A mutation run (test_mutations.py starts it) writes its report apart, not over its parent session's.
REPORT_PATH = Path(os.environ.get("CHAOS_REPORT_PATH") or CHAOS_HOME / "report.json")
_REPORT = pytest.StashKey[ChaosReport]()
_KEEP_RUNS = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-full",
        action="store_true",
        default=False,
        help="chaos suite: thousands of payments and several rounds of faults (default: the quick profile)",
    )
    parser.addoption(
        "--chaos-mutations",
        action="store_true",
        default=False,
        help="chaos suite: also run every mutation against the test guarding it (test_mutations.py)",
    )
    parser.addoption(
        "--chaos-rounds",
        type=int,
        default=None,
        help="chaos suite: this many rounds of faults instead of the profile's (a short trial run)",
    )
    parser.addoption(
        "--chaos-payments",
        type=int,
        default=None,
        help="chaos suite: at least this many payments instead of the profile's",
    )


def pytest_configure(config: pytest.Config) -> None:
    full = bool(config.getoption("chaos_full", default=False))
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    config.stash[_REPORT] = ChaosReport(mode=FULL.name if full else QUICK.name, seed=seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    chaos = item.config.stash.get(_REPORT, None)
    recorded = _in_chaos(item) and not item.get_closest_marker("unit")
    if chaos is not None and recorded and (report.when == "call" or report.outcome != "passed"):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        chaos.outcomes[item.name] = outcome
        chaos.timings[item.name] = chaos.timings.get(item.name, 0.0) + report.duration
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    chaos = config.stash.get(_REPORT, None)
    if chaos is None or not chaos.used:
        return
    terminalreporter.write_sep("=", "chaos report")
    terminalreporter.write_line(chaos.table())
    chaos.write(REPORT_PATH)
    terminalreporter.write_line(f"written to {REPORT_PATH}")


def _in_chaos(item: pytest.Item) -> bool:
    return Path(str(item.path)).is_relative_to(Path(__file__).parent)


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    chosen = FULL if pytestconfig.getoption("chaos_full", default=False) else QUICK
    rounds = pytestconfig.getoption("chaos_rounds", default=None)
    payments = pytestconfig.getoption("chaos_payments", default=None)
    return replace(
        chosen,
        fault_rounds=rounds if rounds is not None else chosen.fault_rounds,
        min_payments=payments if payments is not None else chosen.min_payments,
    )


@pytest.fixture(scope="session")
def chaos_report(pytestconfig: pytest.Config) -> ChaosReport:
    return pytestconfig.stash[_REPORT]


@pytest.fixture(scope="session")
def rng(chaos_report: ChaosReport) -> random.Random:
    return random.Random(chaos_report.seed)


@pytest.fixture(scope="session")
async def chaos_system(profile: Profile) -> AsyncIterator[ChaosSystem]:
    """Own Kafka (the full profile: 3 brokers) + Postgres, then the services on them (the full profile: two
    processes of each); torn down (data purged, logs kept) at the end."""
    _prune_old_runs()
    home = CHAOS_HOME / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    infra = LocalInfra(home, brokers=profile.brokers)
    system = ChaosSystem.create(infra, home / "stack", replicated=profile.replicated)
    try:
        await infra.up()
        await system.start()
        yield system
    finally:
        await system.stop()
        await infra.down()
        shutil.rmtree(system.config.maildir, ignore_errors=True)


@pytest.fixture
async def system(chaos_system: ChaosSystem) -> ChaosSystem:
    """The running system, every service ready (whatever the test before killed)."""
    await chaos_system.ensure_running()
    return chaos_system


def _prune_old_runs() -> None:
    """Keep the logs of the last few runs; older ones (an hour or more untouched) go. Not from a mutation
    run: the session that started it has its own run live."""
    if os.environ.get("CHAOS_MUTATE"):
        return
    runs = sorted(CHAOS_HOME.glob("run-*"), key=lambda p: p.stat().st_mtime)
    for old in runs[:-_KEEP_RUNS]:
        if time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)
