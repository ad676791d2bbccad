"""The rebuild's bulk load read by two processes: every record taken once, in its partition's order, and the
Replayer's own consumer going on after it from where the helper stopped."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from paylinks_events import ContactCreated, Envelope, Payer, PaymentProcessed, PaymentReceived, to_record
from paylinks_runtime.db import create_pool
from paylinks_runtime.kafka import ensure_topics
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, drop_schema, unique
from reconciliation_service import bulk
from reconciliation_service.replayer import Replayer, StagingTables

from .conftest import connect

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def payment(i: int) -> list[Envelope]:
    received = PaymentReceived(
        firm_id="firm-load", payment_id=f"p-{i}", bank_account_id="acc", source="qr_code", amount=100 + i,
        method="card", payer=Payer(name="Pat", email="pat@example.com"), received_at=T0,
    )  # fmt: skip
    processed = PaymentProcessed(
        firm_id="firm-load", payment_id=f"p-{i}", bank_account_id="acc", amount=100 + i, method="card",
        processed_at=T0, fee=3,
    )  # fmt: skip
    return [Envelope(received, source="/t"), Envelope(processed, source="/t")]


async def publish(producer: AIOKafkaProducer, topic: str, envelopes: list[Envelope]) -> None:
    for envelope in envelopes:
        record = to_record(envelope)
        await producer.send(topic, value=record.value, key=record.key, headers=record.headers)
    await producer.flush()


@asynccontextmanager
async def replaying(topic: str) -> AsyncIterator[tuple[Replayer, asyncpg.Connection, StagingTables]]:
    """A started Replayer of `topic` over a new schema holding the read model and the raw tables."""
    schema = unique("t_load")
    conn = await connect(schema)
    pool = await create_pool(DATABASE_URL, schema)
    replayer = Replayer(BOOTSTRAP, [topic], pool)
    try:
        await bulk.create_raw_tables(conn)
        await replayer.start()
        yield replayer, conn, StagingTables(DATABASE_URL, schema)
    finally:
        await replayer.stop()
        await pool.close()
        await conn.close()
        await drop_schema(schema)


async def test_a_load_shared_with_a_helper_takes_every_record_once(producer: AIOKafkaProducer) -> None:
    topic = unique("t-load")
    await ensure_topics(BOOTSTRAP, [topic], partitions=4)
    envelopes = [e for i in range(150) for e in payment(i)]
    redelivered = random.Random(3).sample(envelopes, 20)  # the same event ids again, in their partitions
    await publish(producer, topic, envelopes + redelivered)
    # Left to the per-event path (Postgres refuses NUL in text), one in each partition: both processes' count
    odd = [
        Envelope(ContactCreated(firm_id="firm-load", contact_id=f"c-{p}", name="nul\x00"), source="/t")
        for p in range(4)
    ]
    for partition, envelope in enumerate(odd):
        record = to_record(envelope)
        await producer.send(
            topic, value=record.value, key=record.key, partition=partition, headers=record.headers
        )
    await producer.flush()
    async with replaying(topic) as (replayer, conn, staging):
        loading = await replayer.load(staging, helpers=1)

        assert (loading.events, replayer.applied) == (324, 324)
        assert sorted(e.id for e in loading.per_event) == sorted(e.id for e in odd), (
            "the helper's are sent back"
        )
        rows = await conn.fetch(
            "SELECT seq, id FROM raw_payment_received UNION ALL SELECT seq, id FROM raw_payment_processed"
        )
        assert len(rows) == 320
        assert len({r["seq"] for r in rows}) == 320, "no two processes number a row alike"
        assert {r["seq"] % 2 for r in rows} == {0, 1}, "both processes read a share"
        assert sorted(r["id"] for r in rows) == sorted(e.id for e in envelopes + redelivered)
        firsts = await conn.fetchval(
            "SELECT count(*) FILTER (WHERE first_seen) FROM (SELECT id, first_seen FROM raw_payment_received"
            " UNION ALL SELECT id, first_seen FROM raw_payment_processed) r"
        )
        assert firsts == 300, "a redelivered event id is no first delivery: it makes no second history row"

        await publish(producer, topic, payment(999))
        await replayer.catch_up()
        assert replayer.applied == 326, "the helper's partitions go on from where it stopped"
        assert await conn.fetchval("SELECT count(*) FROM payments WHERE payment_id = 'p-999'") == 1


async def test_a_partition_left_for_no_helper_is_read_all_the_same(producer: AIOKafkaProducer) -> None:
    """One partition and a helper: the helper has nothing to read (none is started), the rebuild reads it."""
    topic = unique("t-load")
    await ensure_topics(BOOTSTRAP, [topic], partitions=1)
    await publish(producer, topic, payment(1) + payment(2))
    async with replaying(topic) as (replayer, conn, staging):
        loading = await replayer.load(staging, helpers=1)

        assert (loading.events, replayer.applied) == (4, 4)
        assert await conn.fetchval("SELECT count(*) FROM raw_payment_received") == 2
