"""The work a consumer does on its next batch while the current one is applied: the batch handler's pure
preparation, a slice at a time, and decoding paced by the handler's `database_busy()`
(`decode_when_database_busy`). On the real broker and database."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from paylinks_events import Envelope
from paylinks_runtime.dead_letters import DeadLetters
from paylinks_runtime.inbox_consumer import (
    DECODE_SLICE,
    Batch,
    BatchHandler,
    Delivery,
    InboxConsumer,
    database_busy,
    each_batch,
)
from paylinks_runtime.testing import BOOTSTRAP, eventually, unique
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from .test_consumer_offsets import publish_contacts
from .test_inbox_consumer import running

Prepared = list[str]  # the event ids prepared


def consumer(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    topic: str,
    handler: BatchHandler[Any],
    *,
    paced: bool = False,
) -> tuple[InboxConsumer, list[int]]:
    """The consumer (batches of 5), and the sizes of the batches it decoded so far, in order."""
    group = unique("test-ahead")
    member = InboxConsumer(
        name=group,
        topics=[topic],
        writer=Writer(pool, "/t"),
        batch_handler=handler,
        dead_letters=DeadLetters(producer, group),
        bootstrap_servers=BOOTSTRAP,
        batch_size=5,
        offsets_in_transaction=True,
        decode_when_database_busy=paced,
    )
    decoded: list[int] = []
    decode = member._decode

    async def counted(batch: Batch) -> list[Delivery]:
        decoded.append(sum(len(records) for records in batch.values()))
        return await decode(batch)

    member._decode = counted  # type: ignore[method-assign]
    return member, decoded


def add_ids(prepared: Prepared, envelopes: list[Envelope]) -> None:
    prepared.extend(e.id for e in envelopes)


def ids(envelopes: list[Envelope]) -> Prepared:
    return [e.id for e in envelopes]


async def decode_at_least(member: InboxConsumer, events: int) -> list[Delivery]:
    """The consumer's next records, fetched and decoded without applying them, until there are `events`."""
    deliveries: list[Delivery] = []
    while len(deliveries) < events:
        deliveries += await member._decode(await member._consumer.getmany(timeout_ms=1000))  # type: ignore[union-attr]
    return deliveries


# --- prepare ------------------------------------------------------------------------------------------


async def test_a_batch_is_prepared_while_the_batch_before_it_is_applied(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    applied: list[Prepared] = []
    applied_when_prepared: list[int] = []  # as each batch's preparation started, how many were applied

    def start() -> Prepared:
        applied_when_prepared.append(len(applied))
        return []

    async def apply(uow: UnitOfWork, prepared: Prepared) -> None:
        await asyncio.sleep(0.3)  # the next batch is fetched and decoded meanwhile, if not before
        applied.append(prepared)

    await publish_contacts(producer, topic, 12)
    member, _ = consumer(pool, producer, topic, BatchHandler(apply, start, add_ids))
    async with running(member):
        await eventually(lambda: sum(len(p) for p in applied) == 12, timeout=20)
    assert len({event_id for p in applied for event_id in p}) == 12
    assert len(applied_when_prepared) == len(applied)  # each batch prepared once
    # Prepared in its own transaction, the k-th batch would find the k before it applied.
    assert any(done < k for k, done in enumerate(applied_when_prepared)), applied_when_prepared


async def test_a_batch_partly_applied_before_is_prepared_again_from_its_fresh_events(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    applied: list[Prepared] = []

    async def apply(uow: UnitOfWork, prepared: Prepared) -> None:
        applied.append(prepared)

    await publish_contacts(producer, topic, 6)
    member, _ = consumer(pool, producer, topic, BatchHandler(apply, list, add_ids))
    await member.start()
    try:
        deliveries = await decode_at_least(member, 6)
        first = [d for d in deliveries if d.record.offset == 0]  # each partition's first record
        await member._apply_batch(first, ids([d.envelope for d in first]))
        await member._apply_batch(deliveries, ids([d.envelope for d in deliveries]))  # prepared ahead
    finally:
        await member.stop()
    fresh = [d.envelope.id for d in deliveries if d.record.offset > 0]
    assert applied == [ids([d.envelope for d in first]), fresh]


async def test_a_batch_is_prepared_a_slice_at_a_time_and_the_loop_runs_between_two(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    """A transaction running meanwhile sends its next statement between two slices, instead of waiting for
    the whole batch's preparation."""
    ticks = 0  # turns of the event loop so far
    slices: list[tuple[int, int]] = []  # each slice prepared: its events, and the turns of the loop before it

    async def turn() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    def add(prepared: Prepared, envelopes: list[Envelope]) -> None:
        slices.append((len(envelopes), ticks))
        add_ids(prepared, envelopes)

    async def apply(uow: UnitOfWork, prepared: Prepared) -> None:
        pass

    events = 2 * DECODE_SLICE + 1
    await publish_contacts(producer, topic, events)
    member, _ = consumer(pool, producer, topic, BatchHandler(apply, list, add))
    await member.start()
    try:
        deliveries = await decode_at_least(member, events)
        turning = asyncio.create_task(turn())
        prepared = await member._prepare_ahead(deliveries)
        turning.cancel()
    finally:
        await member.stop()
    assert prepared == ids([d.envelope for d in deliveries])
    assert [size for size, _ in slices] == [DECODE_SLICE, DECODE_SLICE, 1]
    turns = [before for _, before in slices]
    assert turns == sorted(set(turns)), turns  # the loop turned before each slice


# --- decoding paced by database_busy() ------------------------------------------------------------------


async def decodes_while_first_batch_waits(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, *, paced: bool
) -> tuple[int, int]:
    """How many batches were decoded while the first batch's handler waited before saying the database
    was busy, and how many right after it said so."""
    seen: list[int] = []
    said = asyncio.Event()

    async def handler(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
        if said.is_set():
            return
        await asyncio.sleep(0.5)  # the next batch is fetched meanwhile; decoded at once unless paced
        seen.append(len(decoded))
        database_busy()
        said.set()
        await eventually(lambda: len(decoded) >= 2, timeout=10)  # the next batch, at the latest now
        seen.append(len(decoded))

    await publish_contacts(producer, topic, 12)
    member, decoded = consumer(pool, producer, topic, each_batch(handler), paced=paced)
    async with running(member):
        await eventually(lambda: len(seen) == 2, timeout=20)
    return seen[0], seen[1]


async def test_the_next_batch_is_decoded_only_once_the_handler_says_the_database_is_busy(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    before, after = await decodes_while_first_batch_waits(pool, producer, topic, paced=True)
    assert (before, after) == (1, 2)


async def test_without_it_the_next_batch_is_decoded_while_the_handler_still_waits(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    before, _ = await decodes_while_first_batch_waits(pool, producer, topic, paced=False)
    assert before == 2


async def test_a_handler_that_never_says_so_still_gets_every_batch(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    applied: list[str] = []

    async def handler(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
        applied.extend(e.id for e in envelopes)

    await publish_contacts(producer, topic, 12)
    member, decoded = consumer(pool, producer, topic, each_batch(handler), paced=True)
    async with running(member):
        await eventually(lambda: len(applied) == 12, timeout=20)
    assert len(set(applied)) == 12
    assert sum(decoded) >= 12
