"""The consumer lag gauge while a consumer far behind catches up, on the real broker: tens of thousands of
records on several partitions, a brand-new group also subscribed to quiet topics (nothing to read, nothing
committed: their lag is end less beginning), and a measurement every round within the 5 s budget
`watch_lag` gives it. The gauge must report the true lag (the partition's end less what the group
committed, as the broker says) all the way down to 0: the moment it is most needed is this one, when the
consumer's own fetches keep its connections to the broker busy (a broker answers one request of a
connection at a time: an offsets request waits behind a fetch, up to fetch.max.wait.ms, 500 ms)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import NodeNotReadyError
from aiokafka.structs import OffsetAndMetadata

from paylinks_events import ContactCreated, Envelope, to_record
from paylinks_runtime.dead_letters import DeadLetters
from paylinks_runtime.inbox_consumer import InboxConsumer, each_batch
from paylinks_runtime.kafka import ensure_topics
from paylinks_runtime.testing import BOOTSTRAP, unique
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from .test_inbox_consumer import effects  # noqa: F401
from .test_signals import gauge

PARTITIONS = 6
QUIET_TOPICS = 2  # subscribed too, with nothing in them (a fresh environment's rarely used topics)
RECORDS = 30_000
MEASURE_BUDGET = 5.0  # what watch_lag gives one measurement (max(lag_every_seconds, 5 s))
BATCH = 500
MEASURE_EVERY = 0.5  # between measurements (watch_lag: every 2 s)
# A batch takes at least this long to apply (a projection's statements under load): the catch-up lasts
# seconds however fast the machine, so there are measurements while far behind. Unpaced, the consumer
# applied more than half the backlog before the first measurement (CI, 2026-12-03: [11500, 0]).
APPLY_SECONDS = 0.05


class BrokerTruth:
    """The lag as the broker knows it, asked by clients of its own: the partitions' end offsets less the
    offsets the group committed (the partition's beginning where it committed none)."""

    def __init__(self, group: str, partitions: list[TopicPartition]) -> None:
        self._group = group
        self._partitions = partitions
        self._offsets = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        self.ends: dict[TopicPartition, int] = {}
        self._beginnings: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> BrokerTruth:
        await self._offsets.start()
        await self._admin.start()
        self.ends = await self._offsets.end_offsets(self._partitions)
        self._beginnings = await self._offsets.beginning_offsets(self._partitions)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._offsets.stop()
        await self._admin.close()

    async def lag(self) -> dict[TopicPartition, int]:
        committed = await self._admin.list_consumer_group_offsets(self._group, partitions=self._partitions)
        done = {
            tp: committed[tp].offset
            if tp in committed and committed[tp].offset >= 0
            else self._beginnings[tp]
            for tp in self._partitions
        }
        return {tp: self.ends[tp] - done[tp] for tp in self._partitions}


async def produce_backlog(topic: str, count: int) -> None:
    """`count` distinct events spread over every partition (keys cycle), sent in large batches."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=50, max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for i in range(count):
            record = to_record(
                Envelope(ContactCreated(firm_id="f", contact_id=f"c-{i}", name=f"n-{i}"), source="/t")
            )
            pending.append(
                await producer.send(
                    topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    partition=i % PARTITIONS,
                )
            )
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def record_effects(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """One statement per batch, as the projections write, at a projection's pace (APPLY_SECONDS)."""
    await asyncio.sleep(APPLY_SECONDS)
    await uow.conn.execute(
        "INSERT INTO effects SELECT unnest($1::text[]), unnest($2::text[]), NULL",
        [e.id for e in envelopes],
        [e.event.aggregate_id for e in envelopes],
    )


@pytest.fixture
async def backlog() -> tuple[list[str], list[TopicPartition]]:
    """The backlog topic first, then the quiet ones; every partition of them."""
    topics = [unique("test.lag-backlog").replace("_", "-")]
    topics += [unique("test.lag-quiet").replace("_", "-") for _ in range(QUIET_TOPICS)]
    await ensure_topics(BOOTSTRAP, [*topics, *(f"{t}.dlq" for t in topics)], partitions=PARTITIONS)
    await produce_backlog(topics[0], RECORDS)
    return topics, [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]


@pytest.mark.timeout(600)  # a shared, loaded machine: the catch-up itself may take minutes
async def test_the_lag_gauge_reports_the_true_lag_while_a_far_behind_consumer_catches_up(
    effects: asyncpg.Pool,  # noqa: F811
    producer: AIOKafkaProducer,
    backlog: tuple[list[str], list[TopicPartition]],
) -> None:
    topics, partitions = backlog
    group = unique("test-lag-backlog")
    consumer = InboxConsumer(
        name=group,
        topics=topics,
        writer=Writer(effects, "/t"),
        batch_handler=each_batch(record_effects),
        dead_letters=DeadLetters(producer, group),
        bootstrap_servers=BOOTSTRAP,
        batch_size=BATCH,
    )
    await consumer.start()
    consuming: asyncio.Task[None] | None = None
    measurements: list[int] = []
    try:
        async with BrokerTruth(group, partitions) as truth:
            assert sum(truth.ends.values()) == RECORDS
            # Consuming only, from now: the test takes every measurement itself, in watch_lag's budget,
            # between two readings of the broker's truth (the timer's own measurements would land at
            # moments the test does not know).
            consuming = asyncio.create_task(consumer._consume_forever())
            while True:
                before = await truth.lag()
                async with asyncio.timeout(MEASURE_BUDGET):
                    await consumer.measure_lag()
                after = await truth.lag()
                for tp in partitions:
                    reported = gauge(
                        "paylinks_consumer_lag", consumer=group, topic=tp.topic, partition=str(tp.partition)
                    )
                    assert reported is not None, f"no lag reported for {tp}"
                    # The lag only falls (nothing is produced meanwhile), so the gauge lies between the two
                    # readings; a commit answered by the broker but not yet seen by the consumer is one batch.
                    assert after[tp] <= reported <= before[tp] + BATCH, (tp, after[tp], reported, before[tp])
                measurements.append(sum(after.values()))
                await asyncio.sleep(MEASURE_EVERY)
                if not any(after.values()):
                    break
    finally:
        if consuming is not None:
            consuming.cancel()
            await asyncio.gather(consuming, return_exceptions=True)
        await consumer.stop()
    # Measured while far behind (most of the backlog still to apply) and all the way down to 0.
    assert measurements[0] > RECORDS // 2, measurements
    assert len(measurements) >= 3, measurements
    assert gauge("paylinks_consumer_lag", consumer=group) == 0
    assert await effects.fetchval("SELECT count(*) FROM effects") == RECORDS


class DeadBrokerFirst:
    """An admin client whose first coordinator lookups land on a dead broker (NodeNotReadyError, as
    aiokafka's admin raises when the random broker it picked is down), then answer."""

    def __init__(self, dead_lookups: int, offsets: dict[TopicPartition, int]) -> None:
        self.dead_lookups = dead_lookups
        self.lookups = 0
        self.offsets = offsets

    async def find_coordinator(self, group_id: str) -> int:
        self.lookups += 1
        if self.lookups <= self.dead_lookups:
            raise NodeNotReadyError(f"node {self.lookups} is down")
        return 1

    async def list_consumer_group_offsets(
        self, group_id: str, group_coordinator_id: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: OffsetAndMetadata(self.offsets[tp], "") for tp in partitions}


def _measuring(admin: DeadBrokerFirst) -> InboxConsumer:
    consumer = InboxConsumer(
        name="unit",
        topics=["t"],
        writer=None,  # type: ignore[arg-type]
        handler=record_effects,  # type: ignore[arg-type]
        dead_letters=None,  # type: ignore[arg-type]
        bootstrap_servers="unused:9092",
    )
    consumer._admin = admin  # type: ignore[assignment]
    return consumer


async def test_a_coordinator_lookup_on_a_dead_broker_is_asked_again_within_the_measurement() -> None:
    tp = TopicPartition("t", 0)
    admin = DeadBrokerFirst(dead_lookups=2, offsets={tp: 41})
    assert await _measuring(admin)._group_offsets([tp]) == {tp: 41}
    assert admin.lookups == 3


async def test_a_cluster_that_keeps_failing_fails_the_measurement() -> None:
    tp = TopicPartition("t", 0)
    with pytest.raises(NodeNotReadyError):
        await _measuring(DeadBrokerFirst(dead_lookups=100, offsets={tp: 41}))._group_offsets([tp])


class CoordinatorMoved(DeadBrokerFirst):
    """The coordinator first found (node 1) is no longer the group's (a broker restarted and the group moved):
    it answers as a real non-coordinator broker does through aiokafka, with no partitions and no error raised
    (seen on the chaos suite's three brokers: the two other nodes answered {} for a group at the end). Node 2,
    found on the next lookup, is the coordinator."""

    async def find_coordinator(self, group_id: str) -> int:
        self.lookups += 1
        return self.lookups

    async def list_consumer_group_offsets(
        self, group_id: str, group_coordinator_id: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        if group_coordinator_id == 1:
            return {}
        return await super().list_consumer_group_offsets(group_id, group_coordinator_id, partitions)


async def test_an_answer_from_a_broker_no_longer_the_coordinator_is_not_taken_for_no_commits() -> None:
    tp = TopicPartition("t", 0)
    admin = CoordinatorMoved(dead_lookups=0, offsets={tp: 41})
    assert await _measuring(admin)._group_offsets([tp]) == {tp: 41}
    assert admin.lookups == 2
