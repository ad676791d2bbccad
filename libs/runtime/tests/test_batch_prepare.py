"""A batch handler's pure `prepare`: run as its batch is decoded, while the batch before is applied, and run
again from the fresh events when part of a batch was applied before. On the real broker and database."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import AIOKafkaProducer

from paylinks_events import Envelope
from paylinks_runtime.dead_letters import DeadLetters
from paylinks_runtime.inbox_consumer import BatchHandler, InboxConsumer
from paylinks_runtime.testing import BOOTSTRAP, eventually, unique
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from .test_consumer_offsets import publish_contacts

Prepared = tuple[str, ...]  # the event ids prepared


def consumer(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, handler: BatchHandler[Prepared]
) -> InboxConsumer:
    group = unique("test-prepare")
    return InboxConsumer(
        name=group,
        topics=[topic],
        writer=Writer(pool, "/t"),
        batch_handler=handler,
        dead_letters=DeadLetters(producer, group),
        bootstrap_servers=BOOTSTRAP,
        batch_size=4,
        offsets_in_transaction=True,
    )


def ids(envelopes: list[Envelope]) -> Prepared:
    return tuple(e.id for e in envelopes)


async def test_a_batch_is_prepared_while_the_batch_before_it_is_applied(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    applied: list[Prepared] = []
    applied_when_prepared: list[int] = []  # at each prepare(), how many batches were applied

    def prepare(envelopes: list[Envelope]) -> Prepared:
        applied_when_prepared.append(len(applied))
        return ids(envelopes)

    async def apply(uow: UnitOfWork, prepared: Prepared) -> None:
        await asyncio.sleep(0.3)  # the next batch is fetched and decoded meanwhile, if not before
        applied.append(prepared)

    await publish_contacts(producer, topic, 12)
    member = consumer(pool, producer, topic, BatchHandler(apply, prepare))
    await member.start()
    running = asyncio.create_task(member.run())
    try:
        await eventually(lambda: sum(len(p) for p in applied) == 12, timeout=20)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await member.stop()
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
    member = consumer(pool, producer, topic, BatchHandler(apply, ids))
    await member.start()
    try:
        deliveries = []
        while len(deliveries) < 6:
            deliveries += await member._decode(await member._consumer.getmany(timeout_ms=1000))  # type: ignore[union-attr]
        first = [d for d in deliveries if d.record.offset == 0]  # each partition's first record
        await member._apply_batch(first, ids([d.envelope for d in first]))
        await member._apply_batch(deliveries, ids([d.envelope for d in deliveries]))  # prepared ahead
    finally:
        await member.stop()
    fresh = [d.envelope.id for d in deliveries if d.record.offset > 0]
    assert applied == [ids([d.envelope for d in first]), tuple(fresh)]
