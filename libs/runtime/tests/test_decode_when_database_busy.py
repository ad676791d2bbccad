"""A consumer that decodes its next batch when its handler says the database is busy
(`decode_when_database_busy`), on the real broker and database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from paylinks_events import Envelope
from paylinks_runtime.dead_letters import DeadLetters
from paylinks_runtime.inbox_consumer import Batch, Delivery, InboxConsumer, database_busy, each_batch
from paylinks_runtime.testing import BOOTSTRAP, eventually, unique
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from .test_consumer_offsets import publish_contacts

Apply = Callable[[UnitOfWork, list[Envelope]], Awaitable[None]]


def consumer(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, handler: Apply, *, paced: bool
) -> tuple[InboxConsumer, list[int]]:
    """The consumer, and the sizes of the batches it decoded so far, in order."""
    group = unique("test-paced")
    member = InboxConsumer(
        name=group,
        topics=[topic],
        writer=Writer(pool, "/t"),
        batch_handler=each_batch(handler),
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
    member, decoded = consumer(pool, producer, topic, handler, paced=paced)
    await member.start()
    running = asyncio.create_task(member.run())
    try:
        await eventually(lambda: len(seen) == 2, timeout=20)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await member.stop()
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
    member, decoded = consumer(pool, producer, topic, handler, paced=True)
    await member.start()
    running = asyncio.create_task(member.run())
    try:
        await eventually(lambda: len(applied) == 12, timeout=20)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await member.stop()
    assert len(set(applied)) == 12
    assert sum(decoded) >= 12
