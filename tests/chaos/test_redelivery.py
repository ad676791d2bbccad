"""Records delivered twice (the same `ce_id`) and out of order across topics: the final state is still right.

Duplicates: every record a real payment flow produced (payment, billing and link events) is published again,
three times. The inboxes recognise each copy (their duplicate counters rise by at least that much) and nothing
changes: one payment, one settlement, the same balance, no new email. Protections: the inbox dedupe on
`ce_id`; behind it billing's once-per-payment settlement and the notifier's unique (event, group) email row.
Reconciliation keeps no inbox (its offsets are stored in the projection's transaction): a copy at a new
offset is applied again, to the same rows (its convergent upserts); it is waited for by its lag.

Out of order: a payment's outcome (`PaymentProcessed` / `PaymentFailed`, and for a bill billing's
`BillPaymentApplied` + `PaymentUnallocated` on another topic) is consumed before its `PaymentReceived`.
Reconciliation still ends with one row, complete and with the right status and unallocated amount; the
bill balance is exact; each email goes out once. Protections: the projection's per-event-type columns
(convergent upserts), the notifier holding an email until the payment's facts arrive. These payments carry no
payer address: the payer's receipt of an outcome consumed before its payment is not sent (the notifier learns
the address from PaymentReceived and skips the receipt, "no payer email known"), a gap of the notifier."""

from __future__ import annotations

import uuid
from collections import Counter
from functools import partial

import httpx
import pytest

from paylinks_events import PaymentFailed, PaymentProcessed, PaymentReceived, Topic, utcnow
from paylinks_events.models import Payer
from paylinks_runtime.testing import eventually

from .evidence import consumer_lag, header, projected_payments, read_topics
from .load import Ledger
from .records import producer, send, send_event
from .report import ChaosReport
from .settle import settle
from .system import CONSUMED, ChaosSystem
from .workload import (
    ACCOUNT_CARD,
    ACCOUNT_RETURNED,
    BILL_CARD,
    Firm,
    PlannedPayment,
    open_firm,
    pay_body,
)

pytestmark = pytest.mark.timeout(300)
COPIES = 3
# The services whose consumer dedupes by an inbox of event ids, and so counts each copy it skips.
INBOXES = {service: topics for service, topics in CONSUMED.items() if service != "reconciliation-service"}
SETTLE_SECONDS = 90.0


async def test_records_delivered_again_have_no_second_effect(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "dup", bills=1, bill_amount=10_000)
    payments = [(BILL_CARD, 6_000), (BILL_CARD, 4_000), (ACCOUNT_CARD, 5_000), (ACCOUNT_RETURNED, 700)]
    ledger = await _pay_through_the_api(system, firm, payments)
    before, _ = await settle(system, ledger, {firm.firm_id}, SETTLE_SECONDS)
    assert before.clean, before.summary()
    emails_before = before.checked["emails"]

    counted = await _duplicates_recognised(system)
    copies, deliveries = await _publish_copies(system, firm.firm_id)
    chaos_report.add("inputs", "records published again (same ce_id)", copies)
    await eventually(partial(_all_recognised, system, counted, deliveries), timeout=60)
    after, evidence = await settle(system, ledger, {firm.firm_id}, SETTLE_SECONDS)

    after.record(chaos_report)
    assert after.clean, after.summary()
    assert after.checked["emails"] == emails_before  # not one email more
    assert not any(evidence.lag.values())


async def test_an_outcome_consumed_before_its_payment_still_ends_right(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "order", bills=1, bill_amount=10_000)
    (bill_id,) = firm.bills
    plans = [
        _plan(firm, ACCOUNT_CARD, 12_300, payer_emailed=False),
        _plan(firm, ACCOUNT_RETURNED, 4_500, payer_emailed=False),
        _plan(firm, BILL_CARD, 14_000, bill_id, payer_emailed=False),  # 10,000 applied, 4,000 unallocated
    ]
    ledger = Ledger(accepted={p.key: (p, str(uuid.uuid4())) for p in plans})
    async with producer(system.infra.bootstrap) as kafka:
        for plan, payment_id in ledger.accepted.values():
            await send_event(kafka, _outcome(firm, plan, payment_id))
        await eventually(partial(_outcomes_projected, system, firm.firm_id), timeout=60)
        for plan, payment_id in ledger.accepted.values():
            await send_event(kafka, _received(firm, plan, payment_id))
    chaos_report.add("inputs", "payments delivered outcome first", len(plans))

    verdict, evidence = await settle(system, ledger, {firm.firm_id}, SETTLE_SECONDS)
    verdict.record(chaos_report)
    assert verdict.clean, verdict.summary()
    unallocated = {row.payment_id: row.unallocated_amount for row in evidence.projection}
    assert sorted(unallocated.values(), key=str) == [4_000, None, None]
    assert [(b.balance, b.state) for b in evidence.bills] == [(0, "paid")]


async def _pay_through_the_api(system: ChaosSystem, firm: Firm, payments: list[tuple[str, int]]) -> Ledger:
    ledger = Ledger()
    for kind, amount in payments:
        plan = _plan(firm, kind, amount, next(iter(firm.bills)) if kind == BILL_CARD else None)
        response = await firm.api.raw(
            "POST",
            "link-service",
            f"/v1/pay/{plan.token}/payments",
            public=True,
            json=await pay_body(system, plan),
            headers={"Idempotency-Key": plan.key},
        )
        assert response.status_code == 202, response.text
        ledger.accepted[plan.key] = (plan, response.json()["payment_id"])
    return ledger


def _plan(
    firm: Firm, kind: str, amount: int, bill_id: str | None = None, *, payer_emailed: bool = True
) -> PlannedPayment:
    token = firm.bills[bill_id] if bill_id else firm.account_token
    return PlannedPayment(
        str(uuid.uuid4()), firm.firm_id, token, kind, amount, bill_id, payer_emailed=payer_emailed
    )


async def _publish_copies(system: ChaosSystem, firm_id: str) -> tuple[int, int]:
    """Every record of the firm on the consumed event topics, published again COPIES times, unchanged.
    Returns the copies, and how many deliveries to consumer groups they make."""
    topics = [Topic.PAYMENT, Topic.BILLING, Topic.LINK, Topic.PRACTICE]
    records = [
        r for r in await read_topics(system.infra.bootstrap, topics) if header(r, "ce_firmid") == firm_id
    ]
    async with producer(system.infra.bootstrap) as kafka:
        for _ in range(COPIES):
            for r in records:
                await send(kafka, r.topic, r.key.decode(), r.value, list(r.headers))
    readers = sum(len([s for s, topics in INBOXES.items() if r.topic in topics]) for r in records)
    return COPIES * len(records), COPIES * readers


async def _duplicates_recognised(system: ChaosSystem) -> Counter[str]:
    """Per service: redelivered events its inbox recognised and skipped (paylinks_events_duplicate_total),
    summed over its processes (the full profile runs two: each recognises the copies on its partitions;
    counting the first alone missed the second's and the wait timed out)."""
    counted: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=5.0) as http:
        for service in INBOXES:
            for url in system.urls(service):
                metrics = (await http.get(f"{url}/metrics")).text
                for line in metrics.splitlines():
                    if line.startswith("paylinks_events_duplicate_total{"):
                        counted[service] += int(float(line.rsplit(" ", 1)[1]))
    return counted


async def _all_recognised(system: ChaosSystem, before: Counter[str], deliveries: int) -> bool:
    """Each consumer caught up, and every copy was recognised by every inbox consumer group that read it."""
    if any((await consumer_lag(system)).values()):
        return False
    now = await _duplicates_recognised(system)
    return sum((now - before).values()) >= deliveries


async def _outcomes_projected(system: ChaosSystem, firm_id: str) -> bool:
    """Reconciliation applied the three outcomes and billing's PaymentUnallocated, not one PaymentReceived."""
    rows = await projected_payments(system, [firm_id])
    no_received = all(r.reference is None for r in rows)
    return len(rows) == 3 and no_received and any(r.unallocated_amount for r in rows)


def _outcome(firm: Firm, plan: PlannedPayment, payment_id: str) -> PaymentProcessed | PaymentFailed:
    if plan.kind == ACCOUNT_RETURNED:
        return PaymentFailed(firm_id=firm.firm_id, payment_id=payment_id, reason="R01", failed_at=utcnow())
    return PaymentProcessed(
        firm_id=firm.firm_id,
        payment_id=payment_id,
        bank_account_id=firm.account_id,
        bill_id=plan.bill_id,
        amount=plan.amount,
        method="card",
        processed_at=utcnow(),
    )


def _received(firm: Firm, plan: PlannedPayment, payment_id: str) -> PaymentReceived:
    return PaymentReceived(
        firm_id=firm.firm_id,
        payment_id=payment_id,
        bank_account_id=firm.account_id,
        bill_id=plan.bill_id,
        source="bill_link" if plan.bill_id else "other",
        amount=plan.amount,
        method="echeck" if plan.kind == ACCOUNT_RETURNED else "card",
        payer=Payer(name="Out Of Order", email=""),  # no address: see the module docstring
        reference=plan.reference,
        received_at=utcnow(),
    )
