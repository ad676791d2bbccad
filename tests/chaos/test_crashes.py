"""Payments keep flowing while every service is SIGKILLed in turn, the Kafka broker is SIGKILLed and
PostgreSQL is stopped at once, each at a random moment and started again. Afterwards every accepted payment
is in reconciliation exactly once with the right status, every bill balance is exact, every email was sent
once, nothing the API refused or never saw exists, /readyz said 503 while a dependency was down and
200 after, and a payment attempt during an outage got a 503 (never a 500).

Protections exercised: the outbox (an event committed with its payment is published after any crash), the
inbox (a batch redelivered after a crash has no second effect), the Idempotency-Key (a client retrying a
request cut off by a crash gets the first payment), the sandbox's settlement table (a settlement due while
link-service is dead is delivered later), billing's once-per-payment settlement, the notifier's email
outbox, and the readiness checks. Removing any of them shows up as lost or duplicated below."""

from __future__ import annotations

import asyncio
import random

import pytest

from .faults import FaultInjector
from .load import Ledger, LoadDriver
from .profiles import FULL, Profile
from .report import ChaosReport
from .settle import settle
from .system import ChaosSystem
from .verdict import Verdict
from .workload import Firm, PaymentPlanner, open_firm

pytestmark = pytest.mark.timeout(FULL.test_timeout)
API_SAMPLE = 40  # accepted payments also read back through the staff API (the rest from the tables)


async def test_no_payment_is_lost_or_duplicated_when_services_kafka_and_postgres_crash(
    system: ChaosSystem, profile: Profile, chaos_report: ChaosReport, rng: random.Random
) -> None:
    firms = [
        await open_firm(system, f"chaos{i}", profile.bills_per_firm, profile.bill_amount)
        for i in range(profile.firms)
    ]
    injector = FaultInjector(system, chaos_report, rng)

    ledger = await _pay_while_faults_happen(system, firms, injector, profile, rng)
    _record_inputs(chaos_report, ledger)
    injector.mark("load stopped")
    verdict, evidence = await settle(system, ledger, {f.firm_id for f in firms}, profile.converge_seconds)
    injector.mark("settled" if verdict.clean else "verdict: not clean")
    verdict.checked["payments read back through the API"] += await _read_back(firms, ledger, verdict, rng)
    verdict.record(chaos_report)

    assert [w.line() for w in injector.watches if not w.complete] == []
    assert len(injector.watches) == injector.watches_per_round() * profile.fault_rounds
    # An outage is answered 503 (retry); a 500 would say a request failed in a way nobody planned for.
    assert [why for why in ledger.retries if why.startswith("500")] == []
    assert ledger.accepted, "no payment was accepted at all"
    assert verdict.clean, verdict.summary()
    assert evidence.lag == dict.fromkeys(evidence.lag, 0)


async def _pay_while_faults_happen(
    system: ChaosSystem, firms: list[Firm], injector: FaultInjector, profile: Profile, rng: random.Random
) -> Ledger:
    driver = LoadDriver(
        system.front_url,
        system.url("processor-sandbox"),
        PaymentPlanner(firms, rng).next,
        rate=profile.rate,
    )
    stop = asyncio.Event()
    load = asyncio.create_task(driver.run(stop, profile.min_payments))
    try:
        await asyncio.sleep(profile.pause[1])  # payments flowing before the first fault
        await injector.run_overlapping(profile.fault_rounds, profile.pause)
        await asyncio.sleep(profile.pause[1])  # and after the last recovery
    finally:
        stop.set()
        ledger = await load
    return ledger


async def _read_back(firms: list[Firm], ledger: Ledger, verdict: Verdict, rng: random.Random) -> int:
    """What staff see through the APIs agrees: a sample of payments, and every bill."""
    apis = {f.firm_id: f.api for f in firms}
    sample = rng.sample(
        sorted(ledger.accepted.values(), key=lambda a: a[1]), min(API_SAMPLE, len(ledger.accepted))
    )
    for plan, payment_id in sample:
        seen = await apis[plan.firm_id].payment(payment_id)
        if seen["status"] != plan.expected_status:
            verdict.lose("payment wrong through the API", f"{payment_id}: {seen['status']}")
    for firm in firms:
        for bill_id in firm.bills:
            bill = await firm.api.bill(bill_id)
            applied = sum(p["amount"] for p in bill["payments"])
            if bill["amount"] - bill["balance"] != applied:
                verdict.lose("bill balance wrong through the API", f"{bill_id}: {bill}")
    return len(sample) + sum(len(f.bills) for f in firms)


def _record_inputs(report: ChaosReport, ledger: Ledger) -> None:
    report.add("inputs", "payments started", ledger.started)
    report.add("inputs", "payments accepted (202)", len(ledger.accepted))
    for _, status, code in ledger.refused.values():
        report.add("inputs", f"payments refused ({status} {code})")
    for why, n in ledger.retries.items():
        report.add("inputs", f"requests retried: {why}", n)
