"""Publishes committed outbox rows to Kafka in id order, then deletes them: at-least-once, resumable.

One relay per service schema is active at a time (a Postgres advisory lock elects it); it wakes at
once when its own process commits outbox rows and polls otherwise, so many writers cause no NOTIFY storm.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from opentelemetry.trace import SpanKind

from .metrics import OUTBOX_BACKLOG, OUTBOX_COMMIT_TO_ACK, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED
from .tracing import context_from, current_trace_headers, tracer
from .unit_of_work import OutboxSignal

log = structlog.get_logger(__name__)

_RELAY_LOCK = 0x72656C61  # advisory lock id ("rela"); per database, so namespaced by schema below


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        service: str,
        signal: OutboxSignal,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.2,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._service = service
        self._signal = signal
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._next_backlog_report = 0.0

    async def run(self) -> None:
        """Relay until cancelled; on errors back off and resume from the first unpublished row."""
        backoff = 0.1
        while True:
            try:
                async with self._pool.acquire() as leader_conn:
                    await self._wait_for_leadership(leader_conn)
                    await self._relay_while_leader(leader_conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying", backoff_seconds=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _wait_for_leadership(self, conn: asyncpg.Connection) -> None:
        while not await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", _RELAY_LOCK
        ):
            await asyncio.sleep(1.0)
        log.info("outbox relay is the active relay for this schema")

    async def _relay_while_leader(self, conn: asyncpg.Connection) -> None:
        # The leader's own connection: the relay never queues for the pool behind command handlers.
        while True:
            published = await self.publish_batch(conn)
            if published < self._batch_size:
                await self._signal.wait(self._idle_poll)

    async def publish_batch(self, conn: asyncpg.Connection | None = None) -> int:
        """Publish up to one batch of the oldest rows; return how many were published."""
        if conn is None:
            async with self._pool.acquire() as pooled:
                return await self.publish_batch(pooled)
        rows = await conn.fetch(
            "SELECT id, topic, key, headers, value, created_at FROM outbox ORDER BY id LIMIT $1",
            self._batch_size,
        )
        if rows:
            await self._send_all(rows)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        if time.monotonic() >= self._next_backlog_report:  # count(*) grows with the backlog: once a second
            self._next_backlog_report = time.monotonic() + 1.0
            await self._update_backlog(conn)
        return len(rows)

    async def _send_all(self, rows: list[asyncpg.Record]) -> None:
        futures = [await self._send(row) for row in rows]
        await asyncio.gather(*futures)
        acked = datetime.now(UTC)
        for row in rows:
            OUTBOX_PUBLISHED.labels(self._service, row["topic"]).inc()
            OUTBOX_COMMIT_TO_ACK.labels(self._service).observe((acked - row["created_at"]).total_seconds())

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[RecordMetadata]:
        stored = dict(json.loads(row["headers"]))
        parent = context_from(stored.get("traceparent"), stored.get("tracestate"))
        with tracer().start_as_current_span(
            f"{row['topic']} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": row["topic"],
                "messaging.kafka.message.key": row["key"],
                "messaging.message.id": stored.get("ce_id", ""),
            },
        ):
            stored.pop("tracestate", None)
            stored.update(current_trace_headers())  # the consumer continues from this publish span
            headers = [(k, v.encode()) for k, v in stored.items()]
            delivery: asyncio.Future[RecordMetadata] = await self._producer.send(
                row["topic"], value=row["value"], key=row["key"].encode(), headers=headers
            )
            return delivery

    async def _update_backlog(self, conn: asyncpg.Connection) -> None:
        backlog, oldest = await conn.fetchrow("SELECT count(*), min(created_at) FROM outbox")
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        OUTBOX_OLDEST_AGE.labels(self._service).set(age)
