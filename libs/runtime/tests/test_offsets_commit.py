"""A batch's Kafka offsets are committed while the next batch is applied: after their own transaction, in
order, and a commit that fails fails the loop (rewind, redelivery, no second effect). On the real broker and
database; the consumer's commit is held or failed from outside to show the order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from paylinks_runtime.inbox_consumer import InboxConsumer
from paylinks_runtime.metrics import EVENTS_DUPLICATE
from paylinks_runtime.testing import eventually, unique

from .test_consumer_offsets import consumer, effects, publish_contacts  # noqa: F401
from .test_inbox_consumer import running

RECORDS = 10


def before_the_first_commit(
    member: InboxConsumer, step: Callable[[], Awaitable[object]]
) -> list[dict[TopicPartition, int]]:
    """Run `step` (wait, or raise) before the started consumer's first Kafka commit goes through; returns
    the offsets each commit was given, in order."""
    kafka = member._consumer
    assert kafka is not None
    commit, calls = kafka.commit, list[dict[TopicPartition, int]]()

    async def noted(offsets: dict[TopicPartition, int]) -> None:
        calls.append(offsets)
        if len(calls) == 1:
            await step()
        await commit(offsets)

    kafka.commit = noted  # type: ignore[assignment,method-assign]
    return calls


async def published(pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, name: str) -> InboxConsumer:
    """RECORDS contacts on the topic, and a consumer of a fresh group (batches of 7: at least two)."""
    await publish_contacts(producer, topic, RECORDS)
    return consumer(pool, producer, topic, unique(name))


async def stored_offsets(pool: asyncpg.Pool, group: str) -> dict[TopicPartition, int]:
    rows = await pool.fetch(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1", group
    )
    return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def kafka_offsets(member: InboxConsumer, topic: str) -> dict[TopicPartition, int]:
    kafka = member._consumer
    assert kafka is not None
    committed = {TopicPartition(topic, p): await kafka.committed(TopicPartition(topic, p)) for p in range(3)}
    return {tp: offset for tp, offset in committed.items() if offset is not None}


async def applied(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM effects")


async def test_the_next_batch_is_applied_while_the_offsets_before_it_go_to_kafka(
    effects: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    member = await published(effects, producer, topic, "test-commit-overlap")
    held = asyncio.Event()
    async with running(member):
        calls = before_the_first_commit(member, held.wait)  # before the loop's first step
        await eventually(lambda: calls)
        # A batch after the first was applied while the first's offsets were still on their way ...
        await eventually(lambda: _more_than(effects, sum(calls[0].values())))
        # ... and its own offsets wait for them: one commit in flight, in order.
        assert len(calls) == 1
        held.set()
        await eventually(lambda: _applied_all(effects))
        everything = await stored_offsets(effects, member.name)
        await eventually(lambda: _kafka_has(member, topic, everything))  # what the database holds, no more


async def test_a_failed_commit_rewinds_and_the_redelivered_records_change_nothing(
    effects: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    member = await published(effects, producer, topic, "test-commit-fails")

    async def coordinator_gone() -> None:
        raise KafkaConnectionError("the coordinator went away")

    duplicates_before = EVENTS_DUPLICATE.labels(member.name)._value.get()
    async with running(member):
        calls = before_the_first_commit(member, coordinator_gone)
        await eventually(lambda: _applied_all(effects))
        everything = await stored_offsets(effects, member.name)
        await eventually(lambda: _kafka_has(member, topic, everything))
    assert await applied(effects) == RECORDS
    # What the failed commit carried came again after the rewind, and the stored offsets skipped it.
    duplicates = EVENTS_DUPLICATE.labels(member.name)._value.get() - duplicates_before
    assert duplicates >= sum(calls[0].values())


async def _more_than(pool: asyncpg.Pool, count: int) -> bool:
    return await applied(pool) > count


async def _applied_all(pool: asyncpg.Pool) -> bool:
    return await applied(pool) == RECORDS


async def _kafka_has(member: InboxConsumer, topic: str, offsets: dict[TopicPartition, int]) -> bool:
    return await kafka_offsets(member, topic) == offsets
