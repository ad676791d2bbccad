"""Reads topics from the beginning, with no consumer group, and applies them in batches to a read model.

Used by the rebuild: no inbox is needed because applying an event twice has no second effect. Records
that cannot be decoded were already dead-lettered by the live consumer: here they are skipped and logged.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from paylinks_events import Envelope, PoisonRecord, from_record

from . import projection_store

log = structlog.get_logger(__name__)

BATCH_SIZE = 2000  # records per poll and per transaction


class Replayer:
    def __init__(
        self, bootstrap_servers: str, topics: Sequence[str], pool: asyncpg.Pool, batch_size: int = BATCH_SIZE
    ) -> None:
        self._topics = list(topics)
        self._pool = pool
        self._batch_size = batch_size
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="reconciliation-rebuild",
            group_id=None,
            enable_auto_commit=False,
            max_poll_records=batch_size,
        )
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

    async def catch_up(self) -> None:
        """Apply everything up to the topics' end offsets as they are now."""
        targets = await self._consumer.end_offsets(self._partitions)
        while await self._behind(targets):
            batch = await self._consumer.getmany(timeout_ms=500, max_records=self._batch_size)
            await self._apply([r for records in batch.values() for r in records])

    async def _behind(self, targets: dict[TopicPartition, int]) -> bool:
        for tp, end in targets.items():
            if await self._consumer.position(tp) < end:
                return True
        return False

    async def _apply(self, records: list[ConsumerRecord]) -> None:
        envelopes = [e for e in map(_decode, records) if e is not None]
        if not envelopes:
            return
        try:
            await self._write(envelopes)
        except asyncpg.PostgresError:
            log.exception("rebuild batch failed; applying its events one by one")
            for envelope in envelopes:
                await self._write_or_skip(envelope)
        self.applied += len(envelopes)

    async def _write(self, envelopes: list[Envelope]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await projection_store.apply(conn, envelopes)

    async def _write_or_skip(self, envelope: Envelope) -> None:
        try:
            await self._write([envelope])
        except asyncpg.PostgresError:
            log.exception(
                "rebuild skipped an event it cannot apply", event_id=envelope.id, type=envelope.type
            )


def _decode(record: ConsumerRecord) -> Envelope | None:
    try:
        return from_record(record.value, record.headers)
    except PoisonRecord as exc:
        log.warning(
            "rebuild skipped an undecodable record",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=str(exc),
        )
        return None
