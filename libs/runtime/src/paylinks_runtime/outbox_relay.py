"""Publishes committed outbox rows to Kafka in id order, then deletes them: at-least-once, resumable.

One relay per service schema is active at a time: the holder of a lease in Postgres (relay_lease.py), so
a frozen or partitioned leader loses the role within seconds and, when it wakes, publishes nothing more.
It wakes at once when its own process commits outbox rows and polls otherwise, so many writers cause no
NOTIFY storm.

A row Kafka will never accept (larger than it takes, a topic name it refuses) is moved to
`outbox_quarantine` with the error, counted and alerted on, and the rows behind it go on. Per-key order is
kept for every row that can be published at all; the quarantined row is a gap in its key's stream, the
operator's to repair. Holding its key's later rows back instead would stop that aggregate's events for
good (the row can never be sent), which is worse than a gap that is loud and recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.structs import RecordMetadata
from opentelemetry.trace import Span

from . import kafka_spans
from .logs import event_log_context
from .metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_COMMIT_TO_ACK,
    OUTBOX_MEASURED_AT,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_PUBLISHED,
    OUTBOX_QUARANTINE_ROWS,
    OUTBOX_QUARANTINED,
)
from .relay_lease import LeaseLost, RelayLease
from .retry import Backoff
from .tracing import context_from, current, trace_headers
from .unit_of_work import OutboxSignal

log = structlog.get_logger(__name__)
# After a failure (Postgres or Kafka away): short waits at first, never more than 5 s between tries.
RELAY_BACKOFF = Backoff(0.1, cap=5.0)

# The oldest rows, and their deletion once acknowledged. A leader's statements are fenced by its lease
# ($2 holder, $3 epoch): they touch nothing once another relay holds it.
_OLDEST = "SELECT id, topic, key, headers, value, created_at FROM outbox ORDER BY id LIMIT $1"
# A leader's read also deletes the rows of its last batch, all acknowledged by then ($4): one round trip a
# batch, not two. Its result has one row more when nothing waits (every column null but `deleted`), so
# that the count of rows deleted always comes back. The rows deleted are not read again: the statement's
# reads see the table as it was before its own DELETE. Every other row is, whatever its id: a lower id
# committed late is still picked up (ids are taken at insert, not at commit), so no high-water mark may
# skip it.
_DELETE_AND_READ_WHILE_LEADER = (
    "WITH lease AS ("
    " SELECT 1 FROM outbox_relay_lease WHERE holder = $2 AND epoch = $3 AND expires_at > now()),"
    " gone AS (DELETE FROM outbox WHERE id = ANY($4::bigint[]) AND EXISTS (SELECT 1 FROM lease) RETURNING 1),"
    " next AS (SELECT id, topic, key, headers, value, created_at FROM outbox"
    "  WHERE EXISTS (SELECT 1 FROM lease) AND id <> ALL($4::bigint[]) ORDER BY id LIMIT $1)"
    " SELECT next.*, (SELECT count(*) FROM gone) AS deleted"
    " FROM (SELECT) AS one LEFT JOIN next ON true ORDER BY next.id"
)
_DELETE = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
_DELETE_WHILE_LEADER = (
    "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND EXISTS ("
    " SELECT 1 FROM outbox_relay_lease WHERE holder = $2 AND epoch = $3 AND expires_at > now())"
    " RETURNING 1) SELECT count(*) FROM gone"
)

_QUARANTINE = (
    "INSERT INTO outbox_quarantine (id, event_id, topic, key, headers, value, created_at, error)"
    " SELECT o.id, o.event_id, o.topic, o.key, o.headers, o.value, o.created_at, r.error"
    " FROM outbox o JOIN unnest($1::bigint[], $2::text[]) AS r (id, error) USING (id)"
    " ON CONFLICT (id) DO NOTHING"
)

# What Kafka answers for a record it will never take, however often it is sent again.
NEVER_ACCEPTED: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")  # Kafka's rule for topic names


@dataclass(frozen=True)
class Rejected:
    row: asyncpg.Record
    error: Exception


@dataclass(frozen=True)
class Sending:
    """A row handed to the producer: its open send span, and the broker's acknowledgement to come."""

    row: asyncpg.Record
    span: Span
    delivery: asyncio.Future[RecordMetadata]

    @property
    def event_id(self) -> str | None:
        return _stored_headers(self.row).get("ce_id")

    @property
    def event_type(self) -> str | None:
        return _stored_headers(self.row).get("ce_type")


def _acknowledged(sending: Sending, timeout: TimeoutError) -> bool:
    """After the timeout (which cancelled the deliveries still waiting): end the send span with the
    broker's answer if it came in time, else with the timeout."""
    delivery = sending.delivery
    if not delivery.done() or delivery.cancelled():
        kafka_spans.failed(sending.span, timeout)
        return False
    error = delivery.exception()
    if error is not None:
        kafka_spans.failed(sending.span, error)
        return False
    kafka_spans.acknowledged(sending.span, delivery.result())
    return True


def _check_all_deleted(deleted: int, ids: list[int]) -> None:
    """A fenced deletion that missed rows: another relay holds the lease and publishes them again (a
    redelivery the inboxes recognise); this one stops leading."""
    if deleted < len(ids):
        raise LeaseLost("the outbox rows were published after another relay took the lease")


def _stored_headers(row: asyncpg.Record) -> dict[str, str]:
    """The headers the unit of work stored with the row (CloudEvents attributes and trace context)."""
    return dict(json.loads(row["headers"]))


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
        lease_seconds: float = 10.0,
        publish_timeout_seconds: float = 5.0,
        measure_every_seconds: float = 1.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._service = service
        self._signal = signal
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._publish_timeout = publish_timeout_seconds
        self._measure_every = measure_every_seconds
        self._oldest: datetime | None = None  # the oldest unpublished row's commit time, as last measured
        self._lease = RelayLease(service, lease_seconds=lease_seconds)
        self._standby_poll = min(1.0, lease_seconds / 5)

    async def run(self) -> None:
        """Relay until cancelled (and measure the outbox meanwhile, whether or not this relay leads)."""
        watch = asyncio.create_task(self.watch_backlog(), name="outbox-backlog")
        try:
            await self._relay()
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)

    async def _relay(self) -> None:
        """On errors back off and resume from the first unpublished row."""
        delays = RELAY_BACKOFF.delays()
        while True:
            try:
                async with self._pool.acquire() as leader_conn:
                    await self._wait_for_leadership(leader_conn)
                    try:
                        await self._relay_while_leader(leader_conn)
                    except asyncio.CancelledError:
                        await self._give_up_lease(leader_conn)
                        raise
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                delays = RELAY_BACKOFF.delays()  # logged by the lease; compete for it again at once
            except Exception:
                backoff = next(delays)
                log.exception("outbox relay failed; retrying", backoff_seconds=backoff)
                await asyncio.sleep(backoff)

    async def _wait_for_leadership(self, conn: asyncpg.Connection) -> None:
        while not await self._lease.try_acquire(conn):
            await asyncio.sleep(self._standby_poll)

    async def _delete_on_the_way_out(self, conn: asyncpg.Connection, acked: list[int]) -> None:
        """Stopping: delete the rows already acknowledged, so the next leader does not send them again.
        Best effort: rows left behind are only a redelivery the inboxes recognise."""
        if not acked:
            return
        try:
            async with asyncio.timeout(2.0):
                await self._delete_ids(conn, acked, self._lease)
        except Exception as exc:
            log.warning("outbox relay left published rows behind", rows=len(acked), error=repr(exc))

    async def _give_up_lease(self, conn: asyncpg.Connection) -> None:
        try:
            async with asyncio.timeout(2.0):
                await self._lease.release(conn)
        except Exception as exc:  # the lease expires on its own; a standby waits a little longer
            log.warning("outbox relay could not release its lease", error=repr(exc))

    async def _relay_while_leader(self, conn: asyncpg.Connection) -> None:
        """Publish batch after batch; a batch's rows are deleted by the statement that reads the next.

        A batch is sent only once the one before it was acknowledged in full (per-key order as before).
        Its rows are deleted by the next read, the next batch's or, when none follows, the one that finds
        nothing (after at most one idle poll): one round trip a batch. If the relay stops or fails before
        deleting them, they are sent again later (a redelivery the inboxes recognise), as a batch whose
        deletion failed always was.
        """
        # The leader's own connection: the relay never queues for the pool behind command handlers.
        lease, acked = self._lease, list[int]()
        try:
            await self._publish_while_leader(conn, lease, acked)
        except asyncio.CancelledError:
            await self._delete_on_the_way_out(conn, acked)
            raise

    async def _publish_while_leader(
        self, conn: asyncpg.Connection, lease: RelayLease, acked: list[int]
    ) -> None:
        """The loop of `_relay_while_leader`; `acked` holds the rows acknowledged and not deleted yet."""
        while True:
            await lease.keep(conn)
            rows = await self._oldest_rows(conn, lease, acknowledged=acked)
            acked.clear()
            if not rows:
                await self._signal.wait(self._idle_poll)
                continue
            lease.check()  # the process may have been frozen since the rows were read
            rejected = await self._send_all(rows)
            if rejected:
                async with conn.transaction():
                    await self._quarantine(conn, rejected)
                    await self._delete_ids(conn, [r["id"] for r in rows], lease)
            else:
                acked.extend(r["id"] for r in rows)
            if len(rows) < self._batch_size:
                await self._signal.wait(self._idle_poll)

    async def publish_batch(
        self, conn: asyncpg.Connection | None = None, lease: RelayLease | None = None
    ) -> int:
        """Publish up to one batch of the oldest rows; return how many were published. With a lease, only
        while it holds: each statement is fenced by its epoch, and the sending by its clock."""
        if conn is None:
            async with self._pool.acquire() as pooled:
                return await self.publish_batch(pooled, lease)
        rows = await self._oldest_rows(conn, lease)
        if rows:
            if lease is not None:
                lease.check()  # the process may have been frozen since the rows were read
            rejected = await self._send_all(rows)
            async with conn.transaction():
                if rejected:
                    await self._quarantine(conn, rejected)
                await self._delete(conn, rows, lease)
        return len(rows)

    async def _oldest_rows(
        self, conn: asyncpg.Connection, lease: RelayLease | None, acknowledged: list[int] | None = None
    ) -> list[asyncpg.Record]:
        """The oldest rows; with a lease, once the rows `acknowledged` are deleted (LeaseLost unless all
        were: another relay holds the lease, and publishes them again)."""
        if lease is None:
            rows: list[asyncpg.Record] = await conn.fetch(_OLDEST, self._batch_size)
            return rows
        deleting = acknowledged or []
        result = await conn.fetch(
            _DELETE_AND_READ_WHILE_LEADER, self._batch_size, lease.holder, lease.epoch, deleting
        )
        _check_all_deleted(result[0]["deleted"], deleting)
        return [row for row in result if row["id"] is not None]

    async def _delete(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record], lease: RelayLease | None
    ) -> None:
        await self._delete_ids(conn, [r["id"] for r in rows], lease)

    async def _delete_ids(self, conn: asyncpg.Connection, ids: list[int], lease: RelayLease | None) -> None:
        """Delete published rows: one statement (atomic on its own, so no BEGIN/COMMIT round trips)."""
        if not ids:
            return
        if lease is None:
            await conn.execute(_DELETE, ids)
            return
        _check_all_deleted(await conn.fetchval(_DELETE_WHILE_LEADER, ids, lease.holder, lease.epoch), ids)

    async def _send_all(self, rows: list[asyncpg.Record]) -> list[Rejected]:
        """Send the rows and wait for every acknowledgement; return those Kafka will never accept. Any
        other failure raises: the batch is sent again later (a redelivery the inboxes recognise). Each row's
        send span ends with its acknowledgement, or in error with the failure."""
        sending: list[Sending] = []
        rejected: list[Rejected] = []
        try:
            for row in rows:
                stored = _stored_headers(row)
                span = self._send_span(row, stored)
                try:
                    sending.append(Sending(row, span, await self._send(row, stored, span)))
                except NEVER_ACCEPTED as exc:  # checked by the client before sending
                    kafka_spans.failed(span, exc)
                    rejected.append(Rejected(row, exc))
                except BaseException as exc:
                    kafka_spans.failed(span, exc)
                    raise
            rejected += self._settle(sending, await self._acknowledgements(sending))
        except BaseException as exc:
            for s in sending:  # those still open never had an answer
                kafka_spans.failed(s.span, exc)
            raise
        self._count_published(rows, rejected)
        return rejected

    def _settle(self, sending: list[Sending], results: list[object]) -> list[Rejected]:
        """End each send span with Kafka's answer; raise the first failure the batch is sent again for."""
        rejected: list[Rejected] = []
        failures: list[tuple[Sending, BaseException]] = []
        for s, result in zip(sending, results, strict=True):
            if isinstance(result, RecordMetadata):
                kafka_spans.acknowledged(s.span, result)
                continue
            error = result if isinstance(result, BaseException) else TypeError(f"not an ack: {result!r}")
            kafka_spans.failed(s.span, error)
            if isinstance(error, NEVER_ACCEPTED):  # refused by the broker
                rejected.append(Rejected(s.row, error))
            else:
                failures.append((s, error))
        if failures:
            first, error = failures[0]
            self._publish_failed(error, first, len(failures))
            raise error
        return rejected

    def _count_published(self, rows: list[asyncpg.Record], rejected: list[Rejected]) -> None:
        acked = datetime.now(UTC)
        refused = {r.row["id"] for r in rejected}
        for row in rows:
            if row["id"] not in refused:
                OUTBOX_PUBLISHED.labels(self._service, row["topic"]).inc()
                OUTBOX_COMMIT_TO_ACK.labels(self._service).observe(
                    (acked - row["created_at"]).total_seconds()
                )

    async def _acknowledgements(self, sending: list[Sending]) -> list[object]:
        """Kafka's answer to each record, waited for at most the publish timeout: aiokafka retries an
        idempotent batch forever, and a relay waiting on it forever reports nothing and renews no lease.
        The records may still be delivered after the timeout; sent again, the inboxes recognise them."""
        try:
            async with asyncio.timeout(self._publish_timeout):
                results: list[object] = await asyncio.gather(
                    *(s.delivery for s in sending), return_exceptions=True
                )
                return results
        except TimeoutError as exc:
            error = TimeoutError(f"Kafka did not acknowledge the batch within {self._publish_timeout}s")
            unanswered = [s for s in sending if not _acknowledged(s, error)]
            self._publish_failed(error, unanswered[0] if unanswered else None, len(unanswered))
            raise error from exc

    def _publish_failed(self, error: BaseException, first: Sending | None, failed_rows: int) -> None:
        """One line for the batch, in the first failed row's trace and naming its event."""
        OUTBOX_PUBLISH_ERRORS.labels(self._service, type(error).__name__).inc()
        with contextlib.ExitStack() as scope:
            if first is not None:
                scope.enter_context(current(first.span))
                scope.enter_context(event_log_context(first.event_id, first.event_type))
            log.error(
                "outbox publish failed; the batch is sent again",
                service=self._service,
                error=repr(error),
                failed_rows=failed_rows,
            )

    async def _quarantine(self, conn: asyncpg.Connection, rejected: list[Rejected]) -> None:
        await conn.execute(_QUARANTINE, [r.row["id"] for r in rejected], [repr(r.error) for r in rejected])
        for r in rejected:
            OUTBOX_QUARANTINED.labels(self._service, type(r.error).__name__).inc()
            headers = _stored_headers(r.row)
            with event_log_context(headers.get("ce_id"), headers.get("ce_type")):
                log.error(
                    "outbox row quarantined: Kafka will never accept it",
                    service=self._service,
                    outbox_id=r.row["id"],
                    topic=r.row["topic"],
                    key=r.row["key"],
                    value_bytes=len(r.row["value"]),
                    error=repr(r.error),
                )

    def _send_span(self, row: asyncpg.Record, stored: dict[str, str]) -> Span:
        """The row's PRODUCER span, a child of the operation that committed it (its stored traceparent)."""
        return kafka_spans.send_span(
            row["topic"],
            key=row["key"],
            message_id=stored.get("ce_id"),
            parent=context_from(stored.get("traceparent"), stored.get("tracestate")),
        )

    async def _send(
        self, row: asyncpg.Record, stored: dict[str, str], span: Span
    ) -> asyncio.Future[RecordMetadata]:
        """Hand the record to the producer; the future resolves with the broker's acknowledgement."""
        if not _LEGAL_TOPIC.fullmatch(row["topic"]):
            raise InvalidTopicError(f"{row['topic']!r} is not a legal Kafka topic name")
        stored.pop("tracestate", None)
        stored.update(trace_headers(span.get_span_context()))  # the consumer continues from the send span
        headers = [(k, v.encode()) for k, v in stored.items()]
        delivery: asyncio.Future[RecordMetadata] = await self._producer.send(
            row["topic"], value=row["value"], key=row["key"].encode(), headers=headers
        )
        return delivery

    async def watch_backlog(self) -> None:
        """Measure the outbox on a timer, apart from publishing: a relay stuck on Kafka (or a standby)
        still reports it. While Postgres cannot be read, the oldest row known keeps ageing (only the relay
        deletes rows, and it cannot either), and the last-measured timestamp says how fresh the count is."""
        while True:
            try:
                async with asyncio.timeout(max(self._measure_every, 2.0)):
                    await self.measure_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox backlog not measured", service=self._service, error=repr(exc))
                self._report_age()
            await asyncio.sleep(self._measure_every)

    async def measure_backlog(self) -> None:
        async with self._pool.acquire() as conn:
            backlog, oldest, quarantined = await conn.fetchrow(
                "SELECT count(*), min(created_at), (SELECT count(*) FROM outbox_quarantine) FROM outbox"
            )
        self._oldest = oldest
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        OUTBOX_QUARANTINE_ROWS.labels(self._service).set(quarantined)
        OUTBOX_MEASURED_AT.labels(self._service).set(time.time())
        self._report_age()

    def _report_age(self) -> None:
        age = (datetime.now(UTC) - self._oldest).total_seconds() if self._oldest else 0.0
        OUTBOX_OLDEST_AGE.labels(self._service).set(max(0.0, age))
