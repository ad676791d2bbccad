"""A consumer whose Kafka client receives nothing while its partitions stand still behind gets a new client,
and the events waiting are applied: a client that stopped fetching its partitions, and one left outside its
group, both without an error (what aiokafka can be left as after its coordinator failed in a broker
restart; the CI run of 12-04 saw consumers go quiet that way). A consumer waiting out the database, one
with nothing to read, and one started at the latest records with nothing new keep their client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from paylinks_runtime.inbox_consumer import InboxConsumer
from paylinks_runtime.testing import eventually

from .test_database_outage_consumer import ReadOnlySwitch, switch, switchable_pool  # noqa: F401
from .test_inbox_consumer import consuming, contact, effect_count, send
from .test_signals import gauge

STALL_AFTER = 1.0  # seconds; measured every 0.2 s
RESTARTS = "paylinks_consumer_client_restarts_total"


def client(consumer: InboxConsumer) -> AIOKafkaConsumer:
    assert consumer._consumer is not None
    return consumer._consumer


def restarts(consumer: InboxConsumer) -> float:
    return gauge(RESTARTS, consumer=consumer.name) or 0.0


async def assigned(consumer: InboxConsumer) -> bool:
    return bool(client(consumer).assignment())


@asynccontextmanager
async def watched(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    topic: str,
    start_from: str = "earliest",
    stall_after: float = STALL_AFTER,
) -> AsyncIterator[tuple[InboxConsumer, AIOKafkaConsumer]]:
    """A consumer whose watchdog looks every 0.2 s, once it holds its partitions, and its first client."""
    async with consuming(
        pool,
        producer,
        [topic],
        lag_every_seconds=0.2,
        stall_after_seconds=stall_after,
        start_from=start_from,
    ) as consumer:
        await eventually(partial(assigned, consumer))
        yield consumer, client(consumer)


def stop_fetching(stuck: AIOKafkaConsumer) -> None:
    """Holds its partitions, fetches nothing, raises nothing."""
    stuck.pause(*stuck.assignment())


def leave_the_group(stuck: AIOKafkaConsumer) -> None:
    """No partitions, nothing to fetch, no error."""
    stuck.unsubscribe()


@pytest.mark.parametrize("fault", [stop_fetching, leave_the_group])
async def test_a_client_that_receives_nothing_while_behind_is_replaced_and_the_event_applied(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
    fault: Callable[[AIOKafkaConsumer], None],
) -> None:
    async with watched(switchable_pool, producer, topic) as (consumer, stuck):
        fault(stuck)
        event = contact("f", "waiting")
        await send(producer, topic, event)
        await eventually(lambda: effect_count(switchable_pool, event.id), timeout=30)
        assert client(consumer) is not stuck
        assert restarts(consumer) >= 1


async def test_a_consumer_waiting_out_the_database_keeps_its_client(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    switch: ReadOnlySwitch,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    switch.read_only = True
    async with watched(switchable_pool, producer, topic) as (consumer, waiting):
        event = contact("f", "waiting")
        await send(producer, topic, event)
        await eventually(lambda: gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 1)
        await asyncio.sleep(STALL_AFTER * 4)  # behind and standing still, but applying a batch all along
        assert client(consumer) is waiting
        assert restarts(consumer) == 0
        switch.read_only = False
        await eventually(lambda: effect_count(switchable_pool, event.id))


async def test_a_consumer_with_nothing_to_read_keeps_its_client(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    async with watched(switchable_pool, producer, topic) as (consumer, idle):
        await asyncio.sleep(STALL_AFTER * 4)
        assert client(consumer) is idle
        assert restarts(consumer) == 0


async def test_a_consumer_started_at_the_latest_records_with_nothing_new_keeps_its_client(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    """Nothing committed yet, records before its start: it has nothing to do, so it is not behind (its
    lag is 0, not the partitions' length) and not stalled."""
    for i in range(3):
        await send(producer, topic, contact("f", f"before-{i}"))
    async with watched(switchable_pool, producer, topic, start_from="latest") as (consumer, idle):
        await asyncio.sleep(STALL_AFTER * 4)
        assert client(consumer) is idle
        assert restarts(consumer) == 0
        assert gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 0
        event = contact("f", "after")
        await send(producer, topic, event)
        await eventually(lambda: effect_count(switchable_pool, event.id))
    assert await effect_count(switchable_pool) == 1  # the records before its start are not its to apply


async def test_a_consumer_whose_lag_cannot_be_measured_gets_the_whole_stall_time_once_it_can(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kafka out of reach of the lag's clients (an outage): nothing is judged meanwhile, and a client back
    from it has the whole stall time to rejoin by itself before it is replaced."""
    stall_after = 3.0
    async with watched(switchable_pool, producer, topic, stall_after=stall_after) as (consumer, stuck):
        # measured once with its partitions, at the end of them
        await eventually(lambda: gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 0)
        reachable = asyncio.Event()
        measure = consumer._end_offsets

        async def end_offsets(partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
            if not reachable.is_set():
                raise KafkaConnectionError("Kafka out of reach of the lag's clients")
            return await measure(partitions)

        monkeypatch.setattr(consumer, "_end_offsets", end_offsets)
        stop_fetching(stuck)
        event = contact("f", "waiting")
        await send(producer, topic, event)
        await asyncio.sleep(stall_after * 2)  # behind and stuck, but not measured: nothing judged
        assert restarts(consumer) == 0
        reachable.set()
        await asyncio.sleep(stall_after / 2)  # measured again: its stall time starts now
        assert restarts(consumer) == 0
        await eventually(lambda: effect_count(switchable_pool, event.id), timeout=30)
        assert client(consumer) is not stuck
