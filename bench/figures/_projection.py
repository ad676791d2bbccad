"""What the reconciliation figures (1, 2, 5) share: publishing a workload to a private topic, the service's
settings on a fresh schema, and bare consumers, configured as the service's own, to read the same records.

No FIGURE here: bench.figures.discover skips this module.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from typing import NamedTuple

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.context import BenchContext
from paylinks_events import KafkaRecord
from paylinks_runtime.inbox_consumer import FETCH_MAX_WAIT_MS
from reconciliation_service import replayer
from reconciliation_service.config import Settings

PUBLISH_CHUNK = 10_000  # records in flight while publishing a workload
READ_TIMEOUT = 600.0
TOPIC_PARTITIONS = 6  # ctx.topics() makes them so, as the contract's topics are


def service_settings(ctx: BenchContext, schema: str, **overrides: object) -> Settings:
    """reconciliation-service's settings on the bench's broker and database, its own schema and groups."""
    return Settings(
        kafka_bootstrap_servers=ctx.bootstrap_servers,
        database_url=ctx.database_url,
        db_schema=schema,
        consumer_group_prefix=f"bench-{uuid.uuid4().hex[:8]}-",
        log_level="WARNING",
        **overrides,  # type: ignore[arg-type]
    )


async def publish(ctx: BenchContext, records: Iterable[KafkaRecord]) -> int:
    """Send the records as fast as the broker takes them, waiting for every ack; returns how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=ctx.bootstrap_servers, linger_ms=20, max_batch_size=1024 * 1024, acks=1
    )
    await producer.start()
    sent, pending = 0, []
    try:
        for record in records:
            pending.append(
                await producer.send(record.topic, value=record.value, key=record.key, headers=record.headers)
            )
            if len(pending) >= PUBLISH_CHUNK:
                sent += len(await asyncio.gather(*pending))
                pending.clear()
        sent += len(await asyncio.gather(*pending))
    finally:
        await producer.stop()
    return sent


# --- bare consumers: the same records, no processing --------------------------------------------------------


def group_consumer(ctx: BenchContext, topic: str, batch_size: int) -> AIOKafkaConsumer:
    """A consumer as the runtime's InboxConsumer makes it (a fresh group, from the earliest offset)."""
    group = f"bench-bare-{uuid.uuid4().hex[:8]}"
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=ctx.bootstrap_servers,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )


def replay_consumer(ctx: BenchContext, batch_size: int) -> AIOKafkaConsumer:
    """Reconciliation's Replayer's own consumer (no group; partitions assigned by hand)."""
    return replayer.replay_consumer(ctx.bootstrap_servers, batch_size, client_id="bench-bare-replay")


def partitions(topic: str, count: int = TOPIC_PARTITIONS) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(count)]


async def read_rate(
    consumer: AIOKafkaConsumer, count: int, batch_size: int, assign: list[TopicPartition] | None = None
) -> float:
    """Events/s of `consumer` from its first poll until it has fetched `count` records, doing nothing with
    them. With `assign` (a consumer without group), it reads those partitions from the beginning."""
    await consumer.start()
    try:
        began = time.perf_counter()
        if assign is not None:
            consumer.assign(assign)
            await consumer.seek_to_beginning(*assign)
        seen = 0
        async with asyncio.timeout(READ_TIMEOUT):
            while seen < count:
                batch = await consumer.getmany(timeout_ms=200, max_records=batch_size)
                seen += sum(len(records) for records in batch.values())
        return count / (time.perf_counter() - began)
    finally:
        await consumer.stop()


# How often the figures ask the broker how far a group has committed. Every 20 ms, the asking cost the machine
# 0.06-0.09 of its 2 cores (the broker 0.03-0.06, the bench 0.03) while the system under test needs them all;
# every 100 ms, about 0.02. Both ends of a timed span are seen up to one period late, so its error is
# +-0.1 s either way, against the 7-10 s spans figure 1 times.
PROGRESS_POLL_SECONDS = 0.1


class Progress(NamedTuple):
    """A group's progress through a workload: when (perf_counter) its steady clock started and how many
    records it had committed then, and when it had committed them all."""

    steady_from: float
    committed_then: int
    done: float

    def steady_rate(self, count: int) -> float:
        """Records a second from the clock's start to the end. No span to time (the clock started with every
        record committed) is an error, not a rate of zero or of billions."""
        timed, seconds = count - self.committed_then, self.done - self.steady_from
        if timed <= 0 or seconds <= 0:
            raise RuntimeError(
                f"no steady span to time: its clock started with {self.committed_then:,} of {count:,} records"
                f" committed (polled every {PROGRESS_POLL_SECONDS} s: too few records for the group?)"
            )
        return timed / seconds


async def committed_progress(
    ctx: BenchContext,
    group: str,
    count: int,
    start_share: float,
    timeout: float = READ_TIMEOUT,
    *,
    members: int = 1,
) -> Progress:
    """The group's progress through `count` records: the steady clock starts once its committed offsets
    reach `start_share` of them with `members` members sharing them, which leaves out start-up and the
    group's joins. (Processes started together join one by one; the first consumes alone meanwhile, ~2.5 s
    of a two-process run of figure 1 that took ~8 s in all.)"""
    admin = AIOKafkaAdminClient(bootstrap_servers=ctx.bootstrap_servers, client_id="bench-offsets")
    await admin.start()
    steady: Progress | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                offsets = await admin.list_consumer_group_offsets(group)
                done, now = sum(max(0, o.offset) for o in offsets.values()), time.perf_counter()
                if steady is None and done >= start_share * count and await _shared_by(admin, group, members):
                    steady = Progress(now, done, now)
                if done >= count:
                    return (steady or Progress(now, done, now))._replace(done=now)
                await asyncio.sleep(PROGRESS_POLL_SECONDS)
    finally:
        await admin.close()


async def _shared_by(admin: AIOKafkaAdminClient, group: str, members: int) -> bool:
    """The group has settled its assignment (state Stable) over `members` members (one: nothing to ask)."""
    if members == 1:
        return True
    (response,) = await admin.describe_consumer_groups([group])
    (described,) = response.groups
    _error, _group_id, state, _protocol_type, _protocol, group_members, *_ = described
    return bool(state == "Stable" and len(group_members) == members)


async def check_read_model(db: asyncpg.Pool | asyncpg.Connection, payments: int) -> None:
    """Every payment is ready and has its two history entries: nothing was skipped on the way."""
    ready = await db.fetchval("SELECT count(*) FROM payments WHERE status = 'ready'")
    history = await db.fetchval("SELECT count(*) FROM payment_history")
    if (ready, history) != (payments, 2 * payments):
        raise RuntimeError(f"{ready} ready, {history} history rows; expected {payments}, {2 * payments}")
