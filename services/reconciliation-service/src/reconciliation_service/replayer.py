"""Reads topics from the beginning, with no consumer group, and applies them in batches to a read model.

Used by the rebuild: no inbox is needed because applying an event twice has no second effect. Records
that cannot be decoded were already dead-lettered by the live consumer: here they are skipped and logged,
whether the events are applied one batch at a time (`catch_up`) or loaded raw for a set-based build
(`load`, bulk.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from paylinks_events import Envelope
from paylinks_runtime.db import create_pool
from paylinks_runtime.inbox_consumer import DECODE_SLICE, FETCH_MAX_WAIT_MS

from . import bulk, projection_store

log = structlog.get_logger(__name__)

BATCH_SIZE = 2000  # records per poll and per transaction
LOAD_WRITERS = 3  # connections each reading process of a bulk load copies batches on, in turn
# Processes that read a share of the partitions in a bulk load besides the rebuild's own: reading and
# checking records is the load's critical path (with one process its CPU was the load's wall time while
# the machine had a core's worth idle).
LOAD_HELPERS = 1


def replay_consumer(
    bootstrap_servers: str, batch_size: int = BATCH_SIZE, client_id: str = "reconciliation-rebuild"
) -> AIOKafkaConsumer:
    """The Replayer's consumer: no group (partitions are assigned by hand, read from the beginning), no
    commits, `batch_size` records a poll. (Figure 5's bare baseline reads with the same one.)"""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=batch_size,
        # The broker answers one request of a connection at a time: the end offsets asked after the load
        # (twice) waited behind a fetch parked at the topics' end, 0.45 s each with the default 500 ms.
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )


class Replayer:
    def __init__(
        self, bootstrap_servers: str, topics: Sequence[str], pool: asyncpg.Pool, batch_size: int = BATCH_SIZE
    ) -> None:
        self._topics = list(topics)
        self._pool = pool
        self._batch_size = batch_size
        self._bootstrap_servers = bootstrap_servers
        self._consumer = replay_consumer(bootstrap_servers, batch_size)
        self._partitions: list[TopicPartition] = []
        self.applied = 0

    async def start(self) -> None:
        await self._consumer.start()
        # aiokafka has no public call that fills in the partitions of topics one is not subscribed to
        cluster = await self._consumer._client.fetch_all_metadata()
        self._partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def rewind(self) -> None:
        """Read the topics from the beginning again."""
        await self._consumer.seek_to_beginning(*self._partitions)

    def use_pool(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self, staging: StagingTables, helpers: int = LOAD_HELPERS) -> bulk.BulkLoad:
        """Read everything up to the topics' end offsets as they are now into the raw tables of a bulk load
        (`staging`, made already). This process reads a share of the partitions and `helpers` processes
        the others (`LoadShare`), each copying its batches on connections of its own while it reads the
        next. Events the bulk load leaves to the per-event path end in the load's `per_event`: apply them
        with `apply`. Every event of a key is in one partition, so in one process: the order of its events
        (seq) and the first delivery of an event id are kept."""
        targets = await self._consumer.end_offsets(self._partitions)
        parts = max(min(helpers + 1, len(self._partitions)), 1)  # no process without a partition to read
        shares = [{tp: targets[tp] for tp in self._partitions[i::parts]} for i in range(parts)]
        loading = bulk.BulkLoad(part=0, parts=parts)
        theirs = [tp for share in shares[1:] for tp in share]
        self._consumer.pause(*theirs)
        processes = ProcessPoolExecutor(max_workers=max(parts - 1, 1), mp_context=get_context("spawn"))
        try:
            loop = asyncio.get_running_loop()
            helping = [
                loop.run_in_executor(
                    processes, load_share, LoadShare(self._bootstrap_servers, staging, share, part, parts)
                )
                for part, share in enumerate(shares[1:], start=1)
            ]
            await _load(self._consumer, self._pool, loading, shares[0])
            loaded = await asyncio.gather(*helping)
        finally:
            # Not waited for: should this process fail, a helper still reading ends with its share.
            processes.shutdown(wait=False, cancel_futures=True)
        for tp in theirs:
            self._consumer.seek(tp, targets[tp])
        self._consumer.resume(*theirs)
        for share in loaded:
            loading.events += share.events
            loading.per_event += share.per_event
        self.applied += loading.events
        return loading

    async def apply(self, envelopes: list[Envelope]) -> None:
        """Apply events through the per-event projection, a batch at a time (not counted again)."""
        for start in range(0, len(envelopes), self._batch_size):
            await self._apply(envelopes[start : start + self._batch_size], count=False)

    async def catch_up(self) -> None:
        """Apply everything up to the topics' end offsets as they are now. The next batch is fetched and
        decoded while the current one is written (one write at a time: order does not matter, but two
        transactions upserting the same payments could deadlock)."""
        targets = await self._consumer.end_offsets(self._partitions)
        writing: asyncio.Task[None] | None = None
        try:
            while await self._behind(targets):
                envelopes = await self._fetch()
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._apply(envelopes))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)

    async def _fetch(self) -> list[Envelope]:
        batch = await self._consumer.getmany(timeout_ms=500, max_records=self._batch_size)
        envelopes = []
        for records in batch.values():
            for i, record in enumerate(records):
                if i % DECODE_SLICE == 0:
                    await asyncio.sleep(0)  # the write of the batch before goes on meanwhile
                if (envelope := _decode(record)) is not None:
                    envelopes.append(envelope)
        return envelopes

    async def _behind(self, targets: dict[TopicPartition, int]) -> bool:
        return await _behind(self._consumer, targets)

    async def _apply(self, envelopes: list[Envelope], *, count: bool = True) -> None:
        if not envelopes:
            return
        try:
            await self._write(envelopes)
        except asyncpg.PostgresError:
            log.exception("rebuild batch failed; applying its events one by one")
            for envelope in envelopes:
                await self._write_or_skip(envelope)
        if count:
            self.applied += len(envelopes)

    async def _write(self, envelopes: list[Envelope]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            # Nothing reads the staging tables before the switch, whose own commit waits for the WAL to be
            # flushed up to it: these commits need not wait for the disk (a crash loses the rebuild anyway).
            await conn.execute("SET LOCAL synchronous_commit = off")
            await projection_store.apply(conn, envelopes)

    async def _write_or_skip(self, envelope: Envelope) -> None:
        try:
            await self._write([envelope])
        except asyncpg.PostgresError:
            log.exception(
                "rebuild skipped an event it cannot apply", event_id=envelope.id, type=envelope.type
            )


_decode = bulk.decode


@dataclass(frozen=True)
class StagingTables:
    """Where a bulk load's raw tables are: a helper process connects there on its own."""

    database_url: str
    schema: str


@dataclass(frozen=True)
class LoadShare:
    """A helper process's share of a bulk load: its partitions up to their end offsets;
    its rows numbered part + parts, part + 2 parts, ... (seq), so never as another process's."""

    bootstrap_servers: str
    staging: StagingTables
    targets: dict[TopicPartition, int]
    part: int
    parts: int


@dataclass(frozen=True)
class LoadedShare:
    events: int
    per_event: list[Envelope]


def load_share(share: LoadShare) -> LoadedShare:
    """A helper process's bulk load (run in a process of its own)."""
    return asyncio.run(_load_share(share))


async def _load_share(share: LoadShare) -> LoadedShare:
    targets = share.targets
    loading = bulk.BulkLoad(part=share.part, parts=share.parts)
    consumer = replay_consumer(share.bootstrap_servers, client_id="reconciliation-rebuild-helper")
    await consumer.start()
    try:
        consumer.assign(list(targets))
        await consumer.seek_to_beginning(*targets)
        pool = await create_pool(share.staging.database_url, share.staging.schema, max_size=LOAD_WRITERS)
        try:
            await _load(consumer, pool, loading, targets)
        finally:
            await pool.close()
    finally:
        await consumer.stop()
    return LoadedShare(loading.events, loading.per_event)


async def _load(
    consumer: AIOKafkaConsumer,
    pool: asyncpg.Pool,
    loading: bulk.BulkLoad,
    targets: dict[TopicPartition, int],
    writers: int = LOAD_WRITERS,
) -> None:
    """Read `targets`' partitions into `loading`, a batch per transaction, on `writers` connections in turn
    (Postgres copies a batch on another core while this process reads the next)."""
    conns: list[asyncpg.Connection] = []
    writing: list[asyncio.Task[None]] = []
    try:
        for _ in range(writers):
            conns.append(conn := await pool.acquire())
            await conn.execute("SET synchronous_commit = off")  # undone by the pool's reset
        turn = 0
        while await _behind(consumer, targets):
            batch = await consumer.getmany(*targets, timeout_ms=500)
            for records in batch.values():
                for i, record in enumerate(records):
                    if i % DECODE_SLICE == 0:
                        await asyncio.sleep(0)  # the copy of the batch before goes on meanwhile
                    loading.add_record(record)
            if len(writing) == writers:
                await writing.pop(0)
            writing.append(asyncio.create_task(bulk.copy(conns[turn], loading, loading.take())))
            turn = (turn + 1) % writers
        while writing:
            await writing.pop(0)
    finally:
        for task in writing:
            task.cancel()
        await asyncio.gather(*writing, return_exceptions=True)
        for conn in conns:
            await pool.release(conn)


async def _behind(consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
    for tp, end in targets.items():
        if await consumer.position(tp) < end:
            return True
    return False
