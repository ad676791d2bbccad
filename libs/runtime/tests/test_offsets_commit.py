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
Commit = Callable[[dict[TopicPartition, int]], Awaitable[None]]


def wrap_commit(
    member: InboxConsumer, wrapper: Callable[[Commit], Commit]
) -> list[dict[TopicPartition, int]]:
    """Wrap the started consumer's Kafka commit; returns the offsets each call was given, in order."""
    kafka = member._consumer
    assert kafka is not None
    calls: list[dict[TopicPartition, int]] = []
    commit = wrapper(kafka.commit)  # type: ignore[arg-type]

    async def noted(offsets: dict[TopicPartition, int]) -> None:
        calls.append(offsets)
        await commit(offsets)

    kafka.commit = noted  # type: ignore[assignment,method-assign]
    return calls


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
    await publish_contacts(producer, topic, RECORDS)
    group = unique("test-commit-overlap")
    member = consumer(effects, producer, topic, group)  # batches of 7: at least two
    held = asyncio.Event()

    def hold_the_first(commit: Commit) -> Commit:
        async def held_commit(offsets: dict[TopicPartition, int]) -> None:
            if len(calls) == 1:
                await held.wait()
            await commit(offsets)

        return held_commit

    async with running(member):
        calls = wrap_commit(member, hold_the_first)  # before the loop's first step
        first = await eventually(lambda: calls[:1])
        # A batch after the first was applied while the first's offsets were still on their way ...
        await eventually(lambda: _more_than(effects, sum(first[0].values())))
        # ... and its own offsets wait for them: one commit in flight, in order.
        assert len(calls) == 1
        held.set()
        await eventually(lambda: _applied_all(effects))
        everything = await stored_offsets(effects, group)
        await eventually(lambda: _kafka_has(member, topic, everything))  # what the database holds, no more


async def test_a_failed_commit_rewinds_and_the_redelivered_records_change_nothing(
    effects: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    await publish_contacts(producer, topic, RECORDS)
    group = unique("test-commit-fails")
    member = consumer(effects, producer, topic, group)

    def fail_the_first(commit: Commit) -> Commit:
        async def failing_commit(offsets: dict[TopicPartition, int]) -> None:
            if len(calls) == 1:
                raise KafkaConnectionError("the coordinator went away")
            await commit(offsets)

        return failing_commit

    duplicates_before = EVENTS_DUPLICATE.labels(group)._value.get()
    async with running(member):
        calls = wrap_commit(member, fail_the_first)
        await eventually(lambda: _applied_all(effects))
        everything = await stored_offsets(effects, group)
        await eventually(lambda: _kafka_has(member, topic, everything))
    assert await applied(effects) == RECORDS
    # What the failed commit carried came again after the rewind, and the stored offsets skipped it.
    assert EVENTS_DUPLICATE.labels(group)._value.get() - duplicates_before >= sum(calls[0].values())


async def _more_than(pool: asyncpg.Pool, count: int) -> bool:
    return await applied(pool) > count


async def _applied_all(pool: asyncpg.Pool) -> bool:
    return await applied(pool) == RECORDS


async def _kafka_has(member: InboxConsumer, topic: str, offsets: dict[TopicPartition, int]) -> bool:
    return await kafka_offsets(member, topic) == offsets
