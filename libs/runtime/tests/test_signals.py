"""The gauges an operator alerts on tell the truth in the outages they are for: the outbox backlog and its
age while Kafka does not acknowledge (and while Postgres cannot be read), the consumer lag while the
database refuses the consumer's writes, and its progress stamp standing still meanwhile; partitions a
consumer lost have no series left."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Any

import asyncpg
from prometheus_client import REGISTRY

from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.testing import consumed_everything, eventually, unique
from paylinks_runtime.unit_of_work import OutboxSignal

from .test_database_outage_consumer import ReadOnlySwitch, switch, switchable_pool  # noqa: F401
from .test_inbox_consumer import consuming, contact, send
from .test_outbox_relay import append_matters


def gauge(name: str, **labels: str) -> float | None:
    """The sum of the samples of `name` with these labels; None when there is no such series."""
    values = [
        sample.value
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(values) if values else None


class Unacknowledged:
    """A producer whose records are never acknowledged: what aiokafka's idempotent producer does while
    the broker is gone (it retries the batch forever and never fails the future)."""

    async def send(self, *_: Any, **__: Any) -> asyncio.Future[object]:
        return asyncio.get_running_loop().create_future()


async def test_with_kafka_not_acknowledging_the_outbox_gauges_rise_and_the_publish_times_out(
    pool: asyncpg.Pool,
) -> None:
    service = f"signals-{uuid.uuid4().hex[:6]}"
    await append_matters(pool, f"firm-{uuid.uuid4()}", aggregates=5, per_aggregate=2)
    relay = OutboxRelay(
        pool,
        Unacknowledged(),  # type: ignore[arg-type]
        service=service,
        signal=OutboxSignal(),
        lease_seconds=10.0,
        publish_timeout_seconds=0.5,
        measure_every_seconds=0.1,
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: gauge("paylinks_outbox_backlog", service=service) == 10)
        first_age = gauge("paylinks_outbox_oldest_age_seconds", service=service) or 0.0
        await eventually(
            lambda: (gauge("paylinks_outbox_oldest_age_seconds", service=service) or 0) > first_age
        )
        await eventually(
            lambda: gauge("paylinks_outbox_publish_errors_total", service=service, error="TimeoutError")
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 10  # nothing deleted unacknowledged


async def test_with_postgres_unreadable_the_oldest_row_keeps_ageing(pool: asyncpg.Pool) -> None:
    service = f"signals-{uuid.uuid4().hex[:6]}"
    await append_matters(pool, f"firm-{uuid.uuid4()}", aggregates=1, per_aggregate=1)
    relay = OutboxRelay(pool, Unacknowledged(), service=service, signal=OutboxSignal())  # type: ignore[arg-type]
    await relay.measure_backlog()
    measured_at = gauge("paylinks_outbox_measured_timestamp_seconds", service=service)
    age = gauge("paylinks_outbox_oldest_age_seconds", service=service) or 0.0
    await pool.close()  # every read of the outbox fails from now on

    watch = asyncio.create_task(relay.watch_backlog())
    try:
        await eventually(lambda: (gauge("paylinks_outbox_oldest_age_seconds", service=service) or 0) > age)
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    assert gauge("paylinks_outbox_measured_timestamp_seconds", service=service) == measured_at
    assert gauge("paylinks_outbox_backlog", service=service) == 1


async def test_a_consumer_paused_by_a_read_only_database_reports_its_growing_lag(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    switch: ReadOnlySwitch,  # noqa: F811
    producer,  # type: ignore[no-untyped-def]
    topic: str,
) -> None:
    switch.read_only = True
    async with consuming(switchable_pool, producer, [topic]) as consumer:
        for i in range(7):
            await send(producer, topic, contact("f", f"waiting-{i}"))
        await eventually(lambda: gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 7)
        switch.read_only = False
        await eventually(lambda: gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 0)


async def test_a_paused_consumers_progress_stamp_stops_while_it_is_behind_and_moves_once_it_goes_on(
    switchable_pool: asyncpg.Pool,  # noqa: F811
    switch: ReadOnlySwitch,  # noqa: F811
    producer,  # type: ignore[no-untyped-def]
    topic: str,
) -> None:
    switch.read_only = True
    async with consuming(switchable_pool, producer, [topic]) as consumer:
        for i in range(3):
            await send(producer, topic, contact("f", f"waiting-{i}"))
        await eventually(lambda: gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 3)
        stamped = gauge("paylinks_consumer_progress_timestamp_seconds", consumer=consumer.name)
        assert stamped is not None
        for _ in range(3):  # measured again and again while paused: behind, and not moving
            await consumer.measure_lag()
            assert gauge("paylinks_consumer_progress_timestamp_seconds", consumer=consumer.name) == stamped
        switch.read_only = False
        await eventually(lambda: gauge("paylinks_consumer_lag", consumer=consumer.name, topic=topic) == 0)
        await consumer.measure_lag()
        moved = gauge("paylinks_consumer_progress_timestamp_seconds", consumer=consumer.name)
        assert moved is not None
        assert moved > stamped


async def test_partitions_a_consumer_lost_in_a_rebalance_leave_no_lag_series(
    pool: asyncpg.Pool,
    producer,  # type: ignore[no-untyped-def]
    topic: str,
) -> None:
    await pool.execute("CREATE TABLE effects (event_id text, contact_id text, name text)")
    async with consuming(pool, producer, [topic]) as first:
        await eventually(lambda: len(first._lag_series) == 3)  # alone in its group: all three partitions
        async with consuming(pool, producer, [topic], group=first.name) as second:
            await eventually(lambda: second._consumer.assignment())  # type: ignore[union-attr]
            await eventually(
                lambda: (
                    first._lag_series == set(first._consumer.assignment())  # type: ignore[union-attr]
                    and len(first._lag_series) < 3
                )
            )


async def test_a_partition_back_after_a_rebalance_shows_the_lag_its_group_committed_meanwhile(
    pool: asyncpg.Pool,
    producer,  # type: ignore[no-untyped-def]
    topic: str,
) -> None:
    """The first member applies some events, a second joins and applies more on the partitions it got,
    leaves, and the first has every partition back: its lag is what the group committed (0), not what it
    committed itself before the rebalance (the full chaos run: a notifier reported 2140 on a group at 0)."""
    await pool.execute("CREATE TABLE effects (event_id text, contact_id text, name text)")
    group = unique("test-consumer")
    # No timer: the only measurement is the test's own, once the partitions are back.
    async with consuming(pool, producer, [topic], group=group, lag_every_seconds=3600) as first:
        for i in range(6):
            await send(producer, topic, contact("f", f"before-{i}"))
        await eventually(partial(consumed_everything, first))
        async with consuming(pool, producer, [topic], group=group, lag_every_seconds=3600) as second:
            await eventually(lambda: second._consumer and second._consumer.assignment())
            for i in range(30):
                await send(producer, topic, contact("f", f"meanwhile-{i}"))
            await eventually(partial(consumed_everything, second))
            await eventually(partial(consumed_everything, first))
        await eventually(lambda: len(first._consumer.assignment()) == 3)  # type: ignore[union-attr]
        await eventually(partial(consumed_everything, first))
        await first.measure_lag()
        assert gauge("paylinks_consumer_lag", consumer=group, topic=topic) == 0
