"""The rebuild's set-based build (bulk.py) against the per-event projection, on a real Postgres: the same
events (every type the projection uses, redelivered, out of order, some arriving before what they follow)
make the same rows in every read-model table, and the same keys and indexes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import asyncpg

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    ContactCreated,
    DisputeClosed,
    Envelope,
    Event,
    FeeCharged,
    MatterOpened,
    Payer,
    PaymentDisputed,
    PaymentFailed,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PaymentUnallocated,
    PaymentUnlinked,
    PayoutLine,
    PayoutPaid,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)
from paylinks_runtime.testing import DATABASE_URL, drop_schema, unique
from reconciliation_service import bulk, projection_store
from reconciliation_service.config import MIGRATIONS

T0 = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
FIRM = "firm-bulk"
TABLES = (
    "bank_accounts",
    "contacts",
    "matters",
    "bills",
    "payments",
    "payment_history",
    "refunds",
    "disputes",
    "fees",
    "payouts",
    "ledger_movements",
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events() -> list[Event]:
    """Every event type the projection uses, in the shapes that test its rules."""
    f = FIRM
    out: list[Event] = [
        BankAccountRegistered(firm_id=f, bank_account_id="acc-1", name="Trust \u00e9\u2603", kind="trust"),
        BankAccountRegistered(
            firm_id=f, bank_account_id="acc-2", name="Ops", kind="operating", currency="EUR"
        ),
        ContactCreated(firm_id=f, contact_id="c-1", name='Dana "D" \\ Client', email="d@example.com"),
        ContactCreated(firm_id=f, contact_id="c-2", name="No Email\tTab\nNewline", email=None),
        MatterOpened(firm_id=f, matter_id="m-1", contact_id="c-1", name="Estate", number="N-1"),
        MatterOpened(firm_id=f, matter_id="m-2", contact_id="c-2", name="Other", number=None),
        BillIssued(
            firm_id=f, bill_id="bill-1", matter_id="m-1", contact_id="c-1", amount=7000, issued_at=at(0)
        ),
    ]
    for i in range(30):
        pid = f"p-{i:02d}"
        bill_id = "bill-1" if i % 10 == 0 else None
        received_at = at(i) if i % 7 else at(i).astimezone(IST)  # an offset other than UTC
        received = PaymentReceived(
            firm_id=f,
            payment_id=pid,
            bank_account_id="acc-1",
            link_id=None if i % 3 else f"link-{i}",
            bill_id=bill_id,
            source="bill_link" if bill_id else "qr_code",
            amount=1000 + i,
            currency="USD" if i % 4 else "JPY",
            method="card" if i % 2 else "echeck",
            payer=Payer(name=f"Payer {i} \u00fc", email=f"payer{i}@example.com"),
            reference=None if i % 6 == 0 else f"REF-{i}",
            received_at=received_at,
            card_brand="visa" if i % 2 else None,
            last4="4242" if i % 2 else None,
        )
        processed = PaymentProcessed(
            firm_id=f,
            payment_id=pid,
            bank_account_id="acc-1",
            bill_id="bill-1" if i % 10 == 5 else bill_id,  # processed names the bill received did not
            amount=1000 + i,
            currency=received.currency,
            method=received.method,
            processed_at=at(i + 2),
            fee=30 + i,
        )
        fate = i % 10
        if fate == 9:
            out += [received, PaymentFailed(firm_id=f, payment_id=pid, reason="R01", failed_at=at(i + 5))]
            continue
        if fate == 8:
            out.append(processed)  # processed with no received at all
            continue
        out += [received, processed]
        if bill_id or fate == 5:
            out.append(
                PaymentUnallocated(
                    firm_id=f,
                    bill_id="bill-1",
                    payment_id=pid,
                    amount=10 + i,
                    currency=received.currency,
                    reason="overpayment",
                    unallocated_at=at(i + 3),
                )
            )
        out += _money_after(pid, i, received.currency)
        out += _link_changes(pid, i)
    # payouts: p-01 is in two of them (the least payout id wins); lines of every type
    out += [
        _payout("po-b", [("payment", "p-01", 1001), ("payment", "p-02", 1002), ("fee", "p-02", -33)]),
        _payout("po-a", [("payment", "p-01", 1001), ("refund", "p-03", -5), ("payment", "p-unknown", 7)]),
    ]
    return out


def _money_after(pid: str, i: int, currency: str) -> list[Event]:
    f = FIRM
    fate = i % 6
    out: list[Event] = [
        FeeCharged(
            firm_id=f,
            fee_id=f"fee-{i}",
            payment_id=pid,
            kind="processing",
            amount=30 + i,
            currency=currency,
            bank_account_id="acc-2",
            charged_at=at(i + 2),
        )
    ]
    rid, did = f"r-{i}", f"d-{i}"
    refund = {"firm_id": f, "refund_id": rid, "payment_id": pid}
    dispute = {"firm_id": f, "dispute_id": did, "payment_id": pid}
    requested = RefundRequested(
        **refund, bank_account_id="acc-1", amount=100 + i, currency=currency, reason="overpaid",
        requested_by="admin-amy", requested_at=at(i + 10),
    )  # fmt: skip
    succeeded = RefundSucceeded(
        **refund, bank_account_id="acc-1", amount=100 + i, currency=currency, succeeded_at=at(i + 11)
    )
    failed = RefundFailed(**refund, reason="processor_error", failed_at=at(i + 11))
    opened = PaymentDisputed(
        **dispute, bank_account_id="acc-1", amount=200 + i, currency=currency, reason="fraudulent",
        evidence_due_by=at(i + 86400).astimezone(IST), disputed_at=at(i + 20),
    )  # fmt: skip
    closed = {"amount": 200 + i, "currency": currency, "closed_at": at(i + 50)}
    if fate == 0:
        out += [requested, succeeded]
    elif fate == 1:
        out += [requested, failed]
    elif fate == 2:
        out += [failed]  # a failure whose request never came: amount 0, currency ''
        lone = {"firm_id": f, "refund_id": f"r2-{i}", "payment_id": pid}
        out.append(  # a success whose request never came
            RefundSucceeded(
                **lone, bank_account_id="acc-1", amount=7, currency=currency, succeeded_at=at(i + 12)
            )
        )
    elif fate == 3:
        out += [opened, DisputeClosed(**dispute, outcome="lost", **closed)]
        out.append(
            FeeCharged(
                firm_id=f, fee_id=f"dfee-{i}", payment_id=pid, kind="dispute", amount=1500, currency=currency,
                bank_account_id="acc-2", charged_at=at(i + 20),
            )
        )  # fmt: skip
    elif fate == 4:
        out += [opened, DisputeClosed(**dispute, outcome="won", **closed)]
        fee = {"firm_id": f, "fee_id": f"dfee-{i}", "payment_id": pid, "kind": "dispute"}
        out += [
            FeeCharged(**fee, amount=1500, currency=currency, bank_account_id="acc-2", charged_at=at(i + 20)),
            FeeCharged(
                **fee, amount=-1500, currency=currency, bank_account_id="acc-2", charged_at=at(i + 50)
            ),
        ]
    else:
        out += [
            DisputeClosed(**dispute, outcome="won", **closed),  # closed, never seen opened
            PaymentReturned(
                firm_id=f, payment_id=pid, bank_account_id="acc-1", amount=1000 + i, currency=currency,
                reason="R10", returned_at=at(i + 40),
            ),
        ]  # fmt: skip
    return out


def _link_changes(pid: str, i: int) -> list[Event]:
    """Staff link and unlink: the greatest (time, event id) wins, two changes may share a time."""
    if i % 4 == 0:
        return []
    link = {"firm_id": FIRM, "payment_id": pid}
    changes: list[Event] = [
        PaymentLinked(**link, matter_id="m-1", contact_id="c-1", linked_by="ann", linked_at=at(i + 30))
    ]
    if i % 4 >= 2:
        changes.append(PaymentUnlinked(**link, unlinked_by="bob", reason="wrong", unlinked_at=at(i + 31)))
    if i % 4 == 3:
        changes.append(PaymentLinked(**link, matter_id="m-2", linked_by="cy", linked_at=at(i + 31)))
    return changes


def _payout(payout_id: str, lines: list[tuple[str, str, int]]) -> PayoutPaid:
    return PayoutPaid(
        firm_id=FIRM,
        payout_id=payout_id,
        bank_account_id="acc-1",
        amount=sum(amount for _, _, amount in lines),
        arrival_date=date(2026, 11, 30),
        lines=tuple(PayoutLine(type=t, payment_id=p, amount=a) for t, p, a in lines),  # type: ignore[arg-type]
    )


def delivered(rng: random.Random) -> list[Envelope]:
    """The events as the topics deliver them: each once, some twice (same event id), shuffled."""
    envelopes = [Envelope(e, source="/tests") for e in events()]
    envelopes += rng.sample(envelopes, 40)
    rng.shuffle(envelopes)
    return envelopes


async def connect(schema: str) -> asyncpg.Connection:
    """A connection on a new schema holding the read model's tables (as the rebuild makes them)."""
    conn = await asyncpg.connect(DATABASE_URL)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    await conn.execute(f'SET search_path TO "{schema}"')
    for path in sorted(MIGRATIONS.glob("*_read_model*.sql")):
        await conn.execute(path.read_text())
    return conn


async def per_event(schema: str, envelopes: list[Envelope], seed: int) -> None:
    """As the live consumer applies them: in batches of any size, one transaction each."""
    conn = await connect(schema)
    try:
        rng = random.Random(seed)
        start = 0
        while start < len(envelopes):
            size = rng.choice([1, 3, 17, 64, 200])
            async with conn.transaction():
                await projection_store.apply(conn, envelopes[start : start + size])
            start += size
    finally:
        await conn.close()


async def bulk_built(schema: str, envelopes: list[Envelope]) -> bulk.BulkLoad:
    """As the rebuild does: raw rows copied a batch at a time, the set-based build, then the events left to
    the per-event path."""
    conn = await connect(schema)
    try:
        deferred = await bulk.drop_keys_and_indexes(conn, schema)
        await bulk.create_raw_tables(conn)
        loading = bulk.BulkLoad()
        for start in range(0, len(envelopes), 50):
            for envelope in envelopes[start : start + 50]:
                loading.add(envelope)
            await bulk.copy_rows(conn, loading.take())
        pool = await asyncpg.create_pool(
            DATABASE_URL, min_size=1, max_size=2, server_settings={"search_path": schema}
        )
        try:
            await bulk.build(pool, deferred)
        finally:
            await pool.close()
        await bulk.drop_raw_tables(conn)
        async with conn.transaction():
            await projection_store.apply(conn, loading.per_event)
        return loading
    finally:
        await conn.close()


async def snapshot(schema: str) -> dict[str, Any]:
    """Every row of every read-model table, and the tables' indexes (the schema's name taken out)."""
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        tables = {
            table: sorted(
                (tuple(r.items()) for r in await conn.fetch(f'SELECT * FROM "{schema}".{table}')),  # noqa: S608
                key=repr,
            )
            for table in TABLES
        }
        indexes = await conn.fetch(
            "SELECT tablename, indexname, replace(indexdef, $1, 'S') FROM pg_indexes WHERE schemaname = $1"
            " ORDER BY 1, 2",
            schema,
        )
        return {"tables": tables, "indexes": [tuple(r) for r in indexes]}
    finally:
        await conn.close()


async def test_the_set_based_build_equals_the_per_event_projection() -> None:
    envelopes = delivered(random.Random(11))
    assert {e.type for e in envelopes} >= bulk.PROJECTED, "every event type the projection uses"
    live, other, built = unique("t_live"), unique("t_live"), unique("t_bulk")
    try:
        await per_event(live, envelopes, seed=1)
        # the per-event projection is order-free on these events: another order gives the same rows
        await per_event(other, list(reversed(envelopes)), seed=2)
        expected = await snapshot(live)
        assert expected["tables"] == (await snapshot(other))["tables"]
        assert all(expected["tables"][table] for table in TABLES), "every table has rows to compare"

        loading = await bulk_built(built, envelopes)

        assert loading.per_event == [], "every event type is built set-based"
        assert await snapshot(built) == expected
    finally:
        for schema in (live, other, built):
            await drop_schema(schema)


async def test_events_postgres_would_refuse_in_bulk_go_the_per_event_way() -> None:
    """A control character (JSON escape) in a name, and an amount of 19 digits, are applied per event."""
    odd = [
        Envelope(ContactCreated(firm_id=FIRM, contact_id="c-x", name="Bell\x07", email=None), source="/t"),
        Envelope(
            PaymentReceived(
                firm_id=FIRM, payment_id="p-big", bank_account_id="acc-1", source="qr_code",
                amount=10**18, method="card", payer=Payer(name="Rich", email="r@example.com"),
                received_at=T0,
            ),
            source="/t",
        ),
    ]  # fmt: skip
    envelopes = delivered(random.Random(5)) + odd
    live, built = unique("t_live"), unique("t_bulk")
    try:
        await per_event(live, envelopes, seed=3)
        loading = await bulk_built(built, envelopes)
        assert [e.id for e in loading.per_event] == [e.id for e in odd]
        assert await snapshot(built) == await snapshot(live)
    finally:
        for schema in (live, built):
            await drop_schema(schema)
