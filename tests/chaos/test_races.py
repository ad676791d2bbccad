"""Races: many requests at once on the same thing, and exactly one effect.

- 50 staff link the same payment at once (half to the matter, half to its client): one 200, 49 times 409, one
  `PaymentLinked`, one history entry. Protection: optimistic concurrency on the payment-link stream.
- Parallel payments on one bill, settled by TWO billing-service processes sharing its consumer group (so two
  writers append to the same bill stream at the same time): the balance is exact, every cent is applied or
  unallocated once. Protection: optimistic concurrency on the bill stream (PRIMARY KEY (stream_id, version))
  and the retry of a batch that lost the race.
- A client sends the same payment 30 times at once with one Idempotency-Key: one payment, one id for every
  202, the others told to retry (409 in flight). Protection: the Idempotency-Key claim."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from functools import partial
from typing import Any

import httpx
import pytest

from paylinks_devstack.client import until
from paylinks_events import Topic
from paylinks_runtime.testing import eventually

from .evidence import header, outbox_backlog, read_topics
from .load import Ledger
from .report import ChaosReport
from .settle import settle
from .system import ChaosSystem
from .workload import ACCOUNT_CARD, BILL_CARD, Firm, PlannedPayment, open_firm, pay_body, sandbox_charges

pytestmark = pytest.mark.timeout(300)
LINKERS = 50
BILL_PAYERS = 20
RETRIES = 30
SETTLE_SECONDS = 90.0


async def test_fifty_staff_linking_one_payment_at_once_link_it_once(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "race-link")
    plan = PlannedPayment(str(uuid.uuid4()), firm.firm_id, firm.account_token, ACCOUNT_CARD, 77_700)
    payment_id = (await _pay(firm, plan, await pay_body(system, plan))).json()["payment_id"]
    await firm.api.when(lambda: firm.api.payment(payment_id), "status", "ready")

    bodies = [
        {"matter_id": firm.matter_id} if i % 2 else {"contact_id": firm.contact_id} for i in range(LINKERS)
    ]
    path = f"/v1/payments/{payment_id}/link"
    answers = await asyncio.gather(
        *(firm.api.raw("POST", "reconciliation-service", path, json=body) for body in bodies)
    )
    chaos_report.add("inputs", "parallel link requests on one payment", LINKERS)

    assert Counter(a.status_code for a in answers) == {200: 1, 409: LINKERS - 1}
    published = partial(_events_of, system, Topic.RECONCILIATION, firm.firm_id, "PaymentLinked")
    await eventually(published, timeout=30)
    await eventually(partial(_drained, system, "reconciliation-service"), timeout=30)  # nothing else to come
    linked = await published()
    history = await firm.api.call("GET", "reconciliation-service", f"/v1/payments/{payment_id}/history")
    assert len(linked) == 1
    assert [i["type"] for i in history["items"]].count("PaymentLinked") == 1
    assert (await firm.api.payment(payment_id))["status"] == "linked"
    chaos_report.add("checked", "link events and history entries", len(linked) + len(history["items"]))


async def test_parallel_payments_on_one_bill_settled_by_two_billing_processes_keep_it_exact(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "race-bill", bills=1, bill_amount=50_000)
    (bill_id,) = firm.bills
    # Together exactly the balance: link-service accepts no more than a bill's balance due (accepted and
    # in-flight payments count), so every one of them fits and the two billing processes must apply them all.
    share = 50_000 // BILL_PAYERS
    plans = [
        PlannedPayment(str(uuid.uuid4()), firm.firm_id, firm.bills[bill_id], BILL_CARD, share, bill_id)
        for _ in range(BILL_PAYERS)
    ]
    bodies = [await pay_body(system, plan) for plan in plans]
    async with system.replica("billing-service") as replica:
        answers = await asyncio.gather(
            *(_pay(firm, plan, body) for plan, body in zip(plans, bodies, strict=True))
        )
        ledger = Ledger(
            accepted={
                p.key: (p, a.json()["payment_id"])
                for p, a in zip(plans, answers, strict=True)
                if a.status_code == 202
            }
        )
        chaos_report.add("inputs", "parallel payments on one bill", BILL_PAYERS)
        verdict, evidence = await settle(system, ledger, {firm.firm_id}, SETTLE_SECONDS)
        conflicts = sum([await _write_conflicts(url) for url in (system.url("billing-service"), replica)])

    verdict.record(chaos_report)
    chaos_report.add("notes", "bill appends that lost a race and were retried", conflicts)
    assert {a.status_code for a in answers} == {202}  # all fit the balance the link showed
    assert verdict.clean, verdict.summary()
    assert [(b.balance, b.state) for b in evidence.bills] == [(0, "paid")]
    assert sum(row.amount for row in evidence.applied) == 50_000


async def test_one_payment_sent_thirty_times_at_once_with_one_key_is_one_payment(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "race-key")
    plan = PlannedPayment(str(uuid.uuid4()), firm.firm_id, firm.account_token, ACCOUNT_CARD, 31_400)
    body = await pay_body(system, plan)  # tokenized once: every retry is the same request
    answers = await asyncio.gather(*(_pay(firm, plan, body) for _ in range(RETRIES)))
    chaos_report.add("inputs", "parallel retries with one Idempotency-Key", RETRIES)

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {202, 409}, statuses
    assert statuses[202] >= 1, statuses
    assert all(
        a.json()["error"]["code"] == "idempotency_key_in_flight" for a in answers if a.status_code == 409
    )
    ids = {a.json()["payment_id"] for a in answers if a.status_code == 202}
    final = await until(lambda: _accepted(firm, plan, body), what="the key's first outcome")
    assert ids == {final}
    assert len(await sandbox_charges(system, final)) == 1  # one charge at the processor
    verdict, _ = await settle(
        system, Ledger(accepted={plan.key: (plan, final)}), {firm.firm_id}, SETTLE_SECONDS
    )
    verdict.record(chaos_report)
    assert verdict.clean, verdict.summary()


async def _pay(firm: Firm, plan: PlannedPayment, body: dict[str, Any]) -> httpx.Response:
    return await firm.api.raw(
        "POST",
        "link-service",
        f"/v1/pay/{plan.token}/payments",
        public=True,
        json=body,
        headers={"Idempotency-Key": plan.key},
    )


async def _accepted(firm: Firm, plan: PlannedPayment, body: dict[str, Any]) -> str | None:
    answer = await _pay(firm, plan, body)
    return str(answer.json()["payment_id"]) if answer.status_code == 202 else None


async def _write_conflicts(service_url: str) -> int:
    async with httpx.AsyncClient(timeout=5.0) as http:
        metrics = (await http.get(f"{service_url}/metrics")).text
    lines = [line for line in metrics.splitlines() if line.startswith("billing_bill_write_conflicts_total ")]
    return sum(int(float(line.split()[1])) for line in lines)


async def _drained(system: ChaosSystem, service: str) -> bool:
    return await outbox_backlog(system, service) == 0


async def _events_of(system: ChaosSystem, topic: str, firm_id: str, event_type: str) -> set[str]:
    records = await read_topics(system.infra.bootstrap, [topic])
    return {
        header(r, "ce_id") or ""
        for r in records
        if header(r, "ce_firmid") == firm_id and header(r, "ce_type") == event_type
    }
