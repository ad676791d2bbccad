"""A consumer keeping its offsets in its handler's transaction (offsets_in_transaction), and the offsets
commit across a rebalance, on the real broker and database."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from paylinks_events import ContactCreated, Envelope, to_record
from paylinks_runtime.dead_letters import DeadLetters
from paylinks_runtime.inbox_consumer import Delivery, InboxConsumer, _at_or_past, _offset_ranges, each_batch
from paylinks_runtime.metrics import EVENTS_DUPLICATE
from paylinks_runtime.testing import BOOTSTRAP, TopicWatcher, eventually, header, unique
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

CONTACTS = 30


@pytest.fixture
async def effects(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("CREATE TABLE effects (event_id text, contact_id text)")
    return pool


async def count_effects(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Not idempotent on purpose: a record applied twice shows as a second row."""
    await uow.conn.executemany(
        "INSERT INTO effects VALUES ($1, $2)", [(e.id, e.event.aggregate_id) for e in envelopes]
    )


def consumer(pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, group: str) -> InboxConsumer:
    return InboxConsumer(
        name=group,
        topics=[topic],
        writer=Writer(pool, "/t"),
        batch_handler=each_batch(count_effects),
        dead_letters=DeadLetters(producer, group),
        bootstrap_servers=BOOTSTRAP,
        batch_size=7,
        offsets_in_transaction=True,
    )


async def publish_contacts(producer: AIOKafkaProducer, topic: str, count: int) -> None:
    for i in range(count):
        envelope = Envelope(ContactCreated(firm_id="f", contact_id=str(uuid.uuid4()), name=f"n{i}"), "/t")
        record = to_record(envelope)
        await producer.send_and_wait(topic, value=record.value, key=record.key, headers=record.headers)


async def apply_everything_without_committing(member: InboxConsumer, count: int) -> None:
    """Apply `count` records in the database, never committing Kafka offsets (a process that then dies)."""
    applied = 0
    while applied < count:
        batch = await member._consumer.getmany(timeout_ms=1000)  # type: ignore[union-attr]
        await member.process(batch)
        applied += sum(len(r) for r in batch.values())


async def consume_everything_once(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, group: str
) -> None:
    """A member of `group` that applies every record of the topic and stops without committing to Kafka."""
    member = consumer(pool, producer, topic, group)
    await member.start()
    try:
        await apply_everything_without_committing(member, CONTACTS)
    finally:
        await member.stop()


def delivery(partition: int, offset: int) -> Delivery:
    record = ConsumerRecord("t", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])
    return Delivery(record, Envelope(ContactCreated(firm_id="f", contact_id="c", name="n"), "/t"))


def test_a_batch_s_offset_ranges_are_its_lowest_and_the_one_after_its_highest_in_any_order() -> None:
    deliveries = [delivery(0, 12), delivery(1, 3), delivery(0, 10), delivery(0, 11)]
    assert _offset_ranges(deliveries) == ({("t", 0): 10, ("t", 1): 3}, {("t", 0): 13, ("t", 1): 4})


def test_only_the_deliveries_at_or_past_their_partition_s_stored_offset_are_kept() -> None:
    deliveries = [delivery(0, 10), delivery(0, 11), delivery(1, 3), delivery(1, 4)]
    lowest, _ = _offset_ranges(deliveries)
    kept = _at_or_past(deliveries, lowest, {("t", 0): 10, ("t", 1): 4})
    assert kept == [deliveries[0], deliveries[1], deliveries[3]]
    assert _at_or_past(deliveries, lowest, {("t", 0): 11, ("t", 1): 0}) == deliveries[1:]
    assert _at_or_past(deliveries, lowest, {("t", 0): 12, ("t", 1): 5}) == []
    assert _at_or_past(deliveries, lowest, {("t", 0): 10, ("t", 1): 3}) == deliveries


async def test_records_redelivered_below_the_stored_offsets_are_skipped(effects, producer, topic) -> None:  # type: ignore[no-untyped-def]
    await publish_contacts(producer, topic, CONTACTS)
    group = unique("test-offsets")
    await consume_everything_once(effects, producer, topic, group)
    assert await effects.fetchval("SELECT count(*) FROM effects") == CONTACTS
    stored = "SELECT sum(next_offset) FROM consumer_offsets WHERE consumer = $1"
    assert await effects.fetchval(stored, group) == CONTACTS

    # A second member: Kafka holds no offsets of the group, so everything comes again.
    await consume_everything_once(effects, producer, topic, group)
    assert await effects.fetchval("SELECT count(*) FROM effects") == CONTACTS
    assert EVENTS_DUPLICATE.labels(group)._value.get() == CONTACTS


async def test_a_batch_straddling_the_stored_offsets_applies_only_the_records_at_or_past_them(  # type: ignore[no-untyped-def]
    effects, producer, topic
) -> None:
    await publish_contacts(producer, topic, CONTACTS)
    group = unique("test-offsets-half")
    await consume_everything_once(effects, producer, topic, group)
    # As if only the first half of each partition had been applied: the second half, and the batches that
    # cross the middle (7 records a batch), come again and are partly new.
    stored = await effects.fetch("SELECT next_offset FROM consumer_offsets WHERE consumer = $1", group)
    halve = "UPDATE consumer_offsets SET next_offset = next_offset / 2 WHERE consumer = $1"
    await effects.execute(halve, group)
    past_the_middle = sum(row["next_offset"] - row["next_offset"] // 2 for row in stored)
    assert 0 < past_the_middle < CONTACTS

    await consume_everything_once(effects, producer, topic, group)
    assert await effects.fetchval("SELECT count(*) FROM effects") == CONTACTS + past_the_middle
    assert EVENTS_DUPLICATE.labels(group)._value.get() == CONTACTS - past_the_middle


async def test_a_handler_failure_stores_no_offset(effects, producer, topic) -> None:  # type: ignore[no-untyped-def]
    await publish_contacts(producer, topic, 3)
    group = unique("test-offsets-fail")
    member = consumer(effects, producer, topic, group)

    async def fail(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
        raise asyncpg.DataError("the handler's own fault")

    member._batch_handler = each_batch(fail)
    await member.start()
    try:
        batch = await member._consumer.getmany(timeout_ms=5000)  # type: ignore[union-attr]
        deliveries = await member._decode(batch)
        with pytest.raises(asyncpg.DataError):
            await member._apply_batch(deliveries)
    finally:
        await member.stop()
    assert await effects.fetchval("SELECT count(*) FROM consumer_offsets WHERE consumer = $1", group) == 0


async def test_offsets_of_partitions_a_rebalance_took_are_left_to_their_new_owner(  # type: ignore[no-untyped-def]
    effects, producer, topic
) -> None:
    """Two members of one group: the first applied a batch of every partition, then the second joined and
    took some of them. Committing that batch commits only the partitions still the first's, and raises
    nothing (aiokafka refuses a commit naming a partition not assigned: IllegalStateError)."""
    await publish_contacts(producer, topic, CONTACTS)
    group = unique("test-rebalance")
    first, second = (consumer(effects, producer, topic, group) for _ in range(2))
    await first.start()
    try:
        await eventually(lambda: len(first._consumer.assignment()) == 3)  # type: ignore[union-attr]
        everything = {TopicPartition(topic, p): 1 for p in range(3)}
        await second.start()
        try:
            await eventually(lambda: rebalanced(first, second), timeout=60)
            await first._commit(everything)
            kept = first._consumer.assignment()  # type: ignore[union-attr]
            committed = {tp: await first._consumer.committed(tp) for tp in everything}  # type: ignore[union-attr]
        finally:
            await second.stop()
    finally:
        await first.stop()
    assert {tp for tp, offset in committed.items() if offset == 1} == kept
    assert all(offset is None for tp, offset in committed.items() if tp not in kept)


async def rebalanced(first: InboxConsumer, second: InboxConsumer) -> bool:
    """The second member has partitions, and the first gave them up (a member only learns its assignment
    while it polls, as a running consumer does)."""
    for member in (first, second):
        await member._consumer.getmany(timeout_ms=100)  # type: ignore[union-attr]
    mine, theirs = first._consumer.assignment(), second._consumer.assignment()  # type: ignore[union-attr]
    return bool(theirs) and bool(mine) and not (mine & theirs)


async def test_a_record_the_handler_cannot_apply_is_dead_lettered_and_its_batch_applied(  # type: ignore[no-untyped-def]
    effects, producer, topic
) -> None:
    """One batch of one partition with a record in the middle that the handler refuses: the batch is
    isolated record by record, the bad one goes to the DLQ, the good ones are applied once each, and the
    stored offset passes all of them (so a redelivery applies nothing again)."""
    envelopes = [
        Envelope(ContactCreated(firm_id="f", contact_id=f"c{i}", name=name), "/t")
        for i, name in enumerate(["a", "b", "explode", "c", "d"])
    ]
    for envelope in envelopes:
        record = to_record(envelope)
        await producer.send_and_wait(topic, value=record.value, key=b"one-partition", headers=record.headers)
    group = unique("test-offsets-poison")
    member = consumer(effects, producer, topic, group)

    async def refuse_explode(uow: UnitOfWork, batch: list[Envelope]) -> None:
        if any(getattr(e.event, "name", "") == "explode" for e in batch):
            raise asyncpg.DataError("the handler cannot apply that event")
        await count_effects(uow, batch)

    member._batch_handler = each_batch(refuse_explode)
    async with TopicWatcher(f"{topic}.dlq") as dlq:
        await member.start()
        try:
            await apply_everything_without_committing(member, len(envelopes))
            (dead,) = await dlq.wait_for(lambda r: header(r, "ce_id") == envelopes[2].id)
        finally:
            await member.stop()
    assert "cannot apply" in header(dead, "dlq_reason")  # type: ignore[operator]
    applied = await effects.fetch("SELECT event_id FROM effects")
    assert sorted(r["event_id"] for r in applied) == sorted(e.id for e in envelopes if e != envelopes[2])
    stored = "SELECT sum(next_offset) FROM consumer_offsets WHERE consumer = $1"
    assert await effects.fetchval(stored, group) == len(envelopes)
