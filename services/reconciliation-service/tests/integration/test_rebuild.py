"""Rebuild by replay: a few thousand mixed events (shuffled across topics, some delivered twice, some links
made by staff), then a rebuild into new tables while the API keeps serving, then the switch."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from paylinks_events import Envelope, PayoutLine, to_record
from paylinks_runtime.testing import eventually
from reconciliation_service import bulk
from reconciliation_service.rebuild import Rebuild

from .conftest import own_events_applied

TABLES = {
    "bank_accounts": "bank_account_id",
    "contacts": "contact_id",
    "matters": "matter_id",
    "payments": "payment_id",
    "payment_history": "event_id",
    "bills": "bill_id",
    "refunds": "refund_id",
    "disputes": "dispute_id",
    "fees": "fee_id, given_back",
    "payouts": "payout_id",
    "ledger_movements": "movement_id",
}
# FeeCharged and PayoutPaid are money, not steps in a payment's history
_NOT_IN_HISTORY = ("FeeCharged", "PayoutPaid", "BillIssued")


async def snapshot(pool, firm_id: str, schema: str | None = None) -> dict[str, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    prefix = f'"{schema}".' if schema else ""
    return {
        table: [
            dict(r)
            for r in await pool.fetch(
                f"SELECT * FROM {prefix}{table} WHERE firm_id = $1 ORDER BY {key}",  # noqa: S608 - test's own names
                firm_id,
            )
        ]
        for table, key in TABLES.items()
    }


def mixed_events(firm, payments: int) -> list[Envelope]:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    accounts = [firm.bank_account(name=f"Account {i}") for i in range(3)]
    contacts = [firm.contact(name=f"Client {i}", email=f"client{i}@example.com") for i in range(40)]
    matters = [
        firm.matter(rng.choice(contacts).contact_id, name=f"Matter {i}", number=f"N-{i}") for i in range(60)
    ]
    events: list[Any] = [*accounts, *contacts, *matters]
    paid_out: list[PayoutLine] = []
    for i in range(payments):
        bill_id = f"bill-{i}" if rng.random() < 0.2 else None
        if bill_id:
            events.append(firm.bill(rng.choice(matters)).model_copy(update={"bill_id": bill_id}))
        received = firm.received(
            rng.choice(accounts).bank_account_id,
            amount=rng.randint(100, 90000),
            bill_id=bill_id,
            reference=f"N-{rng.randrange(80)}",
        )
        events.append(received)
        fate = rng.random()
        if fate < 0.8:
            events.append(firm.processed(received))
            if bill_id and rng.random() < 0.5:
                events.append(firm.unallocated(received, amount=rng.randint(1, received.amount)))
            events += _money_after(firm, rng, received, accounts[0].bank_account_id)
            if rng.random() < 0.5:
                paid_out.append(
                    PayoutLine(type="payment", payment_id=received.payment_id, amount=received.amount)
                )
        elif fate < 0.9:
            events.append(firm.failed(received))
    for start in range(0, len(paid_out), 40):
        events.append(firm.payout(accounts[1].bank_account_id, *paid_out[start : start + 40]))
    envelopes = [Envelope(e, source="/tests") for e in events]
    envelopes += rng.sample(envelopes, 50)  # redelivered: the same event ids again
    rng.shuffle(envelopes)
    return envelopes


async def test_the_rebuilt_projection_equals_the_live_one(firm, pool, settings) -> None:  # type: ignore[no-untyped-def]
    envelopes = mixed_events(firm, payments=1000)
    await firm.publish(*envelopes)
    history_rows = len(
        {e.id for e in envelopes if hasattr(e.event, "payment_id") and e.type not in _NOT_IN_HISTORY}
    )
    expected = {
        "payment_history": history_rows,
        "payments": 1000,
        "matters": 60,
        "contacts": 40,
        "bank_accounts": 3,
        "payouts": len({e.id for e in envelopes if e.type == "PayoutPaid"}),
        "fees": len({e.id for e in envelopes if e.type == "FeeCharged"}),
    }
    for table, rows in expected.items():
        await eventually(lambda t=table, n=rows: _count(pool, t, firm.id, n), timeout=60)
    await _staff_link_some(firm, pool)
    live = await snapshot(pool, firm.id)
    assert len(live["payments"]) == 1000
    assert sum(len(rows) for rows in live.values()) > 3000
    assert all(live[table] for table in TABLES), "every table of the read model has rows to compare"
    events_before = await pool.fetchval("SELECT count(*) FROM events WHERE firm_id = $1", firm.id)

    job = Rebuild(settings)
    await job.prepare()
    try:
        await job.replay()
        # replayed into new tables; the API still answers from the live ones
        assert await snapshot(pool, firm.id, job.staging) == live
        assert (await firm.get("/v1/unlinked-payments", limit=200)).status_code == 200
        tables = await job.switch()
    finally:
        await job.close()

    assert sorted(tables) == sorted(TABLES)
    assert await snapshot(pool, firm.id) == live
    assert await pool.fetchval("SELECT count(*) FROM events WHERE firm_id = $1", firm.id) == events_before
    assert not await pool.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", job.staging)
    await _service_goes_on_after_the_switch(firm)


@pytest.mark.parametrize("build_fails", [False, True], ids=["bulk", "bulk load fails"])
async def test_a_rebuild_over_poison_records_equals_the_live_projection(  # type: ignore[no-untyped-def]
    firm, pool, settings, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch, build_fails: bool
) -> None:
    """Records the live consumer dead-letters (not JSON, refused by the model, a header missing) among a
    firm's events: the rebuild skips them, bulk or not. Should the set-based build fail, the rebuild
    replays every event through the projection instead, to the same read model."""
    envelopes = mixed_events(firm, payments=60)
    await firm.publish(*envelopes)
    sample = next(e for e in envelopes if e.type == "PaymentReceived")
    good = to_record(sample)
    headers = [(name, value) for name, value in good.headers if name != "ce_id"]
    for value, record_headers in [
        (b"{not json", good.headers),
        (re.sub(rb'"amount":([0-9]+)', rb'"amount":"\1"', good.value), good.headers),  # text, not a number
        (good.value.replace(b'"currency":"USD"', b'"currency":"usd"'), good.headers),
        (good.value, headers),
    ]:
        await producer.send_and_wait(good.topic, value=value, key=good.key, headers=record_headers)
    received = len({e.event.payment_id for e in envelopes if e.type == "PaymentReceived"})  # type: ignore[attr-defined]
    await eventually(lambda: _count(pool, "payments", firm.id, received), timeout=60)
    history_rows = len(
        {e.id for e in envelopes if hasattr(e.event, "payment_id") and e.type not in _NOT_IN_HISTORY}
    )
    await eventually(lambda: _count(pool, "payment_history", firm.id, history_rows), timeout=60)
    await eventually(
        lambda: _count(pool, "fees", firm.id, len({e.id for e in envelopes if e.type == "FeeCharged"})),
        timeout=60,
    )
    live = await snapshot(pool, firm.id)
    if build_fails:
        monkeypatch.setitem(bulk.BUILDS, "payments", ("SELECT no_such_column FROM payments",))

    job = Rebuild(settings)
    await job.prepare()
    try:
        await job.replay()
        await job.switch()
    finally:
        await job.close()

    assert await snapshot(pool, firm.id) == live


def _money_after(firm, rng: random.Random, received, fee_account_id: str) -> list[Any]:  # type: ignore[no-untyped-def]
    """Some of what can happen to a processed payment: a fee, refunds, a dispute, a return."""
    events: list[Any] = [firm.fee(received, fee_account_id, amount=rng.randint(1, 500))]
    fate = rng.random()
    if fate < 0.2:
        requested = firm.refund_requested(received, rng.randint(1, received.amount))
        outcome = rng.choice([firm.refund_succeeded, firm.refund_failed, None])
        events += [requested, *([outcome(requested)] if outcome else [])]
    elif fate < 0.3:
        disputed = firm.disputed(received)
        outcome_ = rng.choice(["won", "lost", None])
        events += [disputed, *([firm.dispute_closed(disputed, outcome_)] if outcome_ else [])]
    elif fate < 0.35:
        events.append(firm.returned(received))
    return events


async def _count(pool, table: str, firm_id: str, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return await pool.fetchval(f"SELECT count(*) FROM {table} WHERE firm_id = $1", firm_id) == expected  # noqa: S608


async def _staff_link_some(firm, pool) -> None:  # type: ignore[no-untyped-def]
    """Staff link 20 ready payments and unlink 5 again (the aggregate's events, through the outbox)."""
    ready = await pool.fetch(
        "SELECT payment_id FROM payments p WHERE firm_id = $1 AND status = 'ready' AND NOT EXISTS"
        " (SELECT 1 FROM refunds r WHERE r.firm_id = p.firm_id AND r.payment_id = p.payment_id"
        "  AND r.status = 'pending') ORDER BY payment_id LIMIT 20",
        firm.id,
    )
    matter_id = await pool.fetchval("SELECT matter_id FROM matters WHERE firm_id = $1 LIMIT 1", firm.id)
    for i, row in enumerate(ready):
        path = f"/v1/payments/{row['payment_id']}/link"
        linked = await firm.client.post(path, json={"matter_id": matter_id}, headers=firm.headers)
        assert linked.status_code == 200, linked.text
        if i % 4 == 0:
            response = await firm.client.request(
                "DELETE", path, json={"reason": "wrong"}, headers=firm.headers
            )
            assert response.status_code == 200
    # the consumer has seen them back from reconciliation.events before we compare
    await own_events_applied(pool)


async def _service_goes_on_after_the_switch(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    response = await firm.client.post(
        f"/v1/payments/{payment.payment_id}/link", json={"matter_id": matter.matter_id}, headers=firm.headers
    )
    assert response.status_code == 200
    assert response.json()["status"] == "linked"
