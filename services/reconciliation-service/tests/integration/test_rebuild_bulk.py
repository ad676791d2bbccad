"""The rebuild's set-based build (bulk.py) against the per-event projection, on a real Postgres: the same
events (every type the projection uses, redelivered, out of order, some arriving before what they follow)
make the same rows in every read-model table, and the same keys and indexes."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord

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
    to_record,
)
from paylinks_runtime.testing import DATABASE_URL, drop_schema, unique
from reconciliation_service import bulk, projection_store

from .conftest import connect

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


def delivered(rng: random.Random, extra: list[ConsumerRecord] | None = None) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    """The events as the topics deliver them: each once, some twice (same event id), shuffled."""
    records = [kafka_record(Envelope(e, source="/tests")) for e in events()] + (extra or [])
    records += rng.sample(records, 40)
    rng.shuffle(records)
    return records


def kafka_record(envelope: Envelope, value: bytes | None = None) -> ConsumerRecord:  # type: ignore[type-arg]
    record = to_record(envelope)
    return ConsumerRecord(
        record.topic, 0, 0, 0, 0, record.key, record.value if value is None else value, None, 0, 0,
        record.headers,
    )  # fmt: skip


async def per_event(schema: str, records: list[ConsumerRecord], seed: int) -> None:  # type: ignore[type-arg]
    """As the live consumer applies them: poison skipped, in batches of any size, one transaction each."""
    envelopes = [e for r in records if (e := bulk.decode(r)) is not None]
    conn = await connect(schema)
    try:
        rng = random.Random(seed)
        start = 0
        while start < len(envelopes):
            size = rng.choice([1, 3, 17, 64, 200])
            await apply_skipping(conn, envelopes[start : start + size])
            start += size
    finally:
        await conn.close()


async def apply_skipping(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
    """A batch in one transaction; if Postgres refuses it, event by event, skipping what it refuses (as
    the replayer does)."""
    try:
        async with conn.transaction():
            await projection_store.apply(conn, envelopes)
    except asyncpg.PostgresError:
        for envelope in envelopes:
            try:
                async with conn.transaction():
                    await projection_store.apply(conn, [envelope])
            except asyncpg.PostgresError:
                pass


async def bulk_built(schema: str, records: list[ConsumerRecord]) -> bulk.BulkLoad:  # type: ignore[type-arg]
    """As the rebuild does: the records copied a batch at a time, the set-based build, then the events left
    to the per-event path."""
    conn = await connect(schema)
    try:
        deferred = await bulk.set_aside_for_the_load(conn, schema)
        await bulk.create_raw_tables(conn)
        loading = bulk.BulkLoad()
        for start in range(0, len(records), 50):
            for record in records[start : start + 50]:
                loading.add_record(record)
            await bulk.copy(conn, loading, loading.take())
        pool = await asyncpg.create_pool(
            DATABASE_URL, min_size=1, max_size=2, server_settings={"search_path": schema}
        )
        try:
            await bulk.build(pool, deferred)
        finally:
            await pool.close()
        await bulk.drop_raw_tables(conn)
        for start in range(0, len(loading.per_event), 200):
            await apply_skipping(conn, loading.per_event[start : start + 200])
        return loading
    finally:
        await conn.close()


async def snapshot(schema: str) -> dict[str, Any]:
    """Every row of every read-model table, the tables' indexes (the schema's name taken out) and their
    storage parameters (the fill of their pages)."""
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
        return {
            "tables": tables,
            "indexes": [tuple(r) for r in indexes],
            "storage parameters": await storage_parameters(conn, schema),
        }
    finally:
        await conn.close()


async def test_the_set_based_build_equals_the_per_event_projection() -> None:
    records = delivered(random.Random(11))
    assert {header(r, "ce_type") for r in records} >= bulk.PROJECTED, "every event type the projection uses"
    live, other, built = unique("t_live"), unique("t_live"), unique("t_bulk")
    try:
        await per_event(live, records, seed=1)
        # the per-event projection is order-free on these events: another order gives the same rows
        await per_event(other, list(reversed(records)), seed=2)
        expected = await snapshot(live)
        assert expected["tables"] == (await snapshot(other))["tables"]
        assert all(expected["tables"][table] for table in TABLES), "every table has rows to compare"

        loading = await bulk_built(built, records)

        assert loading.per_event == [], "every event type is built set-based"
        assert loading.events == len(records)
        assert await snapshot(built) == expected
    finally:
        for schema in (live, other, built):
            await drop_schema(schema)


def variants() -> list[ConsumerRecord]:  # type: ignore[type-arg]
    """PaymentReceived and PaymentProcessed records that pydantic takes in other forms than it writes, and
    poison that it refuses: the bulk load's shapes must refuse at least all it refuses, and take what they
    take with the same values."""
    base_received = PaymentReceived(
        firm_id=FIRM, payment_id="v", bank_account_id="acc-1", link_id="l", bill_id=None, source="qr_code",
        amount=1234, method="card", payer=Payer(name="Vee", email="v@example.com"), reference="R",
        received_at=T0, card_brand="visa", last4="4242",
    )  # fmt: skip
    base_processed = PaymentProcessed(
        firm_id=FIRM, payment_id="v", bank_account_id="acc-1", amount=1234, method="card", processed_at=T0,
        fee=12,
    )  # fmt: skip
    received_cases: list[tuple[str, Any]] = [
        ("defaults", lambda d: {k: v for k, v in d.items() if k not in {"currency", "link_id", "bill_id",
         "reference", "card_brand", "last4", "authorization"}}),
        ("extra fields", lambda d: d | {"extra": {"x": [1, 2]}, "payer": d["payer"] | {"phone": "1"}}),
        ("offset and fraction", lambda d: d | {"received_at": "2026-11-24T17:30:00.5+05:30"}),
        ("negative offset", lambda d: d | {"received_at": "2026-11-24T07:00:00-05:00"}),
        ("minus zero offset", lambda d: d | {"received_at": "2026-11-24T12:00:00-00:00"}),
        ("leap day", lambda d: d | {"received_at": "2024-02-29T12:00:00Z"}),
        ("non-ASCII text", lambda d: d | {"payer": {"name": "Zo\u00eb \u2603", "email": "z@example.com"},
         "reference": "line\nbreak \"quoted\" back\\slash"}),
        ("unicode digits", lambda d: d | {"last4": "\u0661\u0662\u0663\u0664"}),
        ("authorization", lambda d: d | {"authorization": {"text_version": "v1", "name": "Vee",
         "accepted_at": "2026-11-24T12:00:00Z"}}),
        ("long name", lambda d: d | {"payer": {"name": "n" * 200, "email": "v@example.com"}}),
        ("poison: amount as text", lambda d: d | {"amount": "1234"}),
        ("poison: amount with a fraction", lambda d: d | {"amount": 1234.0}),
        ("poison: amount zero", lambda d: d | {"amount": 0}),
        ("poison: lower-case currency", lambda d: d | {"currency": "usd"}),
        ("poison: null currency", lambda d: d | {"currency": None}),
        ("poison: no such day", lambda d: d | {"received_at": "2026-02-29T12:00:00Z"}),
        ("poison: no offset", lambda d: d | {"received_at": "2026-11-24T12:00:00"}),
        ("poison: leap second", lambda d: d | {"received_at": "2026-12-31T23:59:60Z"}),
        ("poison: empty name", lambda d: d | {"payer": {"name": "", "email": "v@example.com"}}),
        ("poison: long name", lambda d: d | {"payer": {"name": "n" * 201, "email": "v@example.com"}}),
        ("poison: empty firm", lambda d: d | {"firm_id": ""}),
        ("poison: unknown source", lambda d: d | {"source": "web"}),
        ("poison: bad last4", lambda d: d | {"last4": "42a2"}),
        ("poison: no payment id", lambda d: {k: v for k, v in d.items() if k != "payment_id"}),
        ("poison: payer as text", lambda d: d | {"payer": "Vee"}),
        ("poison: bad authorization", lambda d: d | {"authorization": {"text_version": "", "name": "V",
         "accepted_at": "2026-11-24T12:00:00Z"}}),
    ]  # fmt: skip
    processed_cases: list[tuple[str, Any]] = [
        ("defaults", lambda d: {k: v for k, v in d.items() if k not in {"currency", "bill_id", "fee"}}),
        ("poison: negative fee", lambda d: d | {"fee": -1}),
        ("poison: fee with a fraction", lambda d: d | {"fee": 1.5}),
        ("poison: method", lambda d: d | {"method": "cash"}),
    ]
    records = []
    for i, (name, change) in enumerate(received_cases + processed_cases):
        base = base_received if i < len(received_cases) else base_processed
        event = base.model_copy(update={"payment_id": f"v-{i}"})
        data = change(json.loads(event.model_dump_json()))
        text = json.dumps(data, ensure_ascii=False, indent=1 if i % 2 else None)
        records.append(kafka_record(Envelope(event, source=f"/variant/{name}"), value=text.encode()))

    def broken(payment_id: str, value: bytes | None = None, **fields: str) -> ConsumerRecord:  # type: ignore[type-arg]
        event = base_received.model_copy(update={"payment_id": payment_id, **fields})
        return kafka_record(Envelope(event, source="/broken"), value)

    records += [broken("v-json", b"{no"), broken("v-array", b"[1]"), broken("v-nul", reference="a\x00b")]
    # valid to pydantic and to the shape (a field both ignore), but no jsonb: the batch is refused, decoded
    big = to_record(Envelope(base_received.model_copy(update={"payment_id": "v-big"}), source="/big")).value
    records.append(broken("v-big", big.replace(b'{"firm_id"', b'{"extra":1e999999,"firm_id"')))
    return records


async def test_forms_and_poison_the_per_event_projection_meets_give_the_same_read_model() -> None:
    records = delivered(random.Random(5), variants())
    live, built = unique("t_live"), unique("t_bulk")
    try:
        await per_event(live, records, seed=3)
        loading = await bulk_built(built, records)
        expected = await snapshot(live)
        assert await snapshot(built) == expected
        assert loading.events == len([r for r in records if bulk.decode(r) is not None])
        paid = {row[1][1] for row in expected["tables"]["payments"]}
        assert {"v-0", "v-2", "v-9", "v-26", "v-big"} <= paid, "valid variants were applied"
        assert not {"v-10", "v-20", "v-json"} & paid, "poison was not"
    finally:
        for schema in (live, built):
            await drop_schema(schema)


async def test_the_load_sets_the_fill_of_its_pages_aside_and_the_build_gives_it_back() -> None:
    """The live projection's tables leave room on their pages for later updates (migration 0005); rows the
    bulk load writes have had theirs, so the load fills their pages, and the fill is set again once built."""
    schema = unique("t_fill")
    conn = await connect(schema)
    try:
        live_fill = await storage_parameters(conn, schema)
        assert live_fill == {"payments": ["fillfactor=50"]}
        deferred = await bulk.set_aside_for_the_load(conn, schema)
        assert await storage_parameters(conn, schema) == {}
        for ddl in deferred["payments"].statements:
            await conn.execute(ddl)
        assert await storage_parameters(conn, schema) == live_fill
    finally:
        await conn.close()
        await drop_schema(schema)


async def storage_parameters(conn: asyncpg.Connection, schema: str) -> dict[str, list[str]]:
    """The storage parameters (the fill of their pages) of the tables of `schema` that set any."""
    rows = await conn.fetch(
        "SELECT relname, reloptions FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r'"
        " AND reloptions IS NOT NULL",
        schema,
    )
    return {row["relname"]: row["reloptions"] for row in rows}


def header(record: ConsumerRecord, name: str) -> str:  # type: ignore[type-arg]
    return dict(record.headers)[name].decode()
