"""Idempotent batch consumer: per batch, ONE transaction records each event id in the inbox and applies
the handler; offsets are committed only after that transaction. Redelivery therefore has no second effect.

A handler whose writes are idempotent (a projection of upserts) can instead keep the consumer's offsets in
that same transaction (`offsets_in_transaction`): the transaction locks the partitions' stored offsets,
skips the records below them (a redelivery) and stores the offsets after the batch. No inbox row per
event; an event published twice at two offsets (an at-least-once producer) is applied twice, which such a
handler absorbs.

The handler is either per event (`Handler`: one CONSUMER span per event, a child of its producer span)
or per batch (`BatchHandler`: one CONSUMER span linked to every event's producer span, as the messaging
conventions say; a projection uses it to write a batch with one statement per table). A batch handler's
pure part (its preparation: a projection's planning) runs as the batch is decoded, ahead of its
transaction.

The next batch is fetched, decoded and prepared while the current one is applied. By default its decoding
starts at once, in slices between the current transaction's statements. A batch handler whose writes are
long statements (a projection's copies and merges) can instead have it start when the first of them does
(`decode_when_database_busy`, the handler calling `database_busy()`): Python's decoding then overlaps the
database's writing instead of delaying the transaction's short statements while Postgres idles. The
handler's preparation of the next batch runs then too, in slices as well.

Undecodable or invalid records go to `<topic>.dlq` and consumption continues. A record whose handler
keeps failing for a reason of its own is isolated and dead-lettered too; while the database is unavailable
(down, read-only in a failover, disk full, out of connections) the batch waits and is tried again, its
offsets uncommitted, so no valid record is dead-lettered and no offset passes a record not applied.

A watchdog on the lag timer replaces the Kafka client when it receives nothing while its partitions (a member
holding none: its group's) stand still behind their ends, with no batch being applied, for a while: aiokafka
can be left outside its group, or holding partitions it no longer fetches, after its coordinator failed (a
broker restart), and then waits without an error. A new client joins the group afresh at the committed
offsets.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, NotCoordinatorForGroupError
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.trace import Link, SpanKind

from paylinks_events import Envelope, Event, PoisonRecord, from_record

from . import kafka_spans
from .db import database_unavailable
from .dead_letters import DeadLetters
from .event_store import ConcurrencyError
from .logs import event_log_context
from .metrics import (
    CONSUMER_BATCH_RETRIES,
    CONSUMER_CLIENT_RESTARTS,
    CONSUMER_LAG,
    CONSUMER_PROGRESS_AT,
    EVENT_VISIBILITY,
    EVENTS_APPLIED,
    EVENTS_DUPLICATE,
    PROJECTION_LAG,
    observe_all,
)
from .retry import Backoff, retry
from .tracing import context_from, link_to, tracer
from .unit_of_work import UnitOfWork, Writer

log = structlog.get_logger(__name__)

# A span keeps this many links (OTEL_SPAN_LINK_COUNT_LIMIT, 128 by default) and drops the rest: a batch
# span links to its first events' producer spans, and the rest are not built to be thrown away.
_MAX_LINKS = SpanLimits().max_links or 128

# Event ids named on a line about a whole batch (each failing event has a line of its own).
_LOGGED_IDS = 20

# Records decoded between two yields to the event loop: decoding is CPU work, and the batch before is
# being written meanwhile; each yield lets its next statement go to Postgres instead of waiting.
DECODE_SLICE = 50

# Set while a batch is applied by a consumer that decodes its next batch when the database is busy.
_DATABASE_BUSY: ContextVar[asyncio.Event | None] = ContextVar("database_busy", default=None)


def database_busy() -> None:
    """Said by a batch handler just before it awaits a statement the database takes long over: the consumer
    (with `decode_when_database_busy`) decodes its next batch meanwhile. Anywhere else it does nothing."""
    busy = _DATABASE_BUSY.get()
    if busy is not None:
        busy.set()


Handler = Callable[[UnitOfWork, Envelope], Awaitable[None]]
Prepared = TypeVar("Prepared")


@dataclass(frozen=True)
class BatchHandler(Generic[Prepared]):
    """Applies a batch of fresh events in two steps. Preparing is pure (no I/O; `apply` never changes what
    it makes, so a batch tried again is applied from the same): `start` makes an empty prepared batch and
    `add` turns events into what `apply` writes, more of them at each call, in order. It runs when the
    batch is decoded, while the batch before it is still being applied, a slice of events at a time (the
    transaction running meanwhile sends its next statement between two slices). `apply` writes it in the
    consumer's transaction. A batch of which some records were applied already (a redelivery) is prepared
    again, from its fresh events, in the transaction."""

    apply: Callable[[UnitOfWork, Prepared], Awaitable[None]]
    start: Callable[[], Prepared]
    add: Callable[[Prepared, list[Envelope]], None]

    def prepare(self, envelopes: list[Envelope]) -> Prepared:
        """All of these events prepared at once."""
        prepared = self.start()
        self.add(prepared, envelopes)
        return prepared


def each_batch(
    apply: Callable[[UnitOfWork, list[Envelope]], Awaitable[None]],
) -> BatchHandler[list[Envelope]]:
    """A batch handler with nothing to prepare: `apply` takes the fresh events."""
    return BatchHandler(apply, list, list.extend)


Batch = dict[TopicPartition, list[ConsumerRecord]]

# Conflicts another attempt resolves (another writer first, a deadlock victim), a slow answer, and a
# connection the server ended in the middle of a statement (asyncpg then reports its own broken state).
_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    ConcurrencyError,
    TimeoutError,
    asyncpg.InternalClientError,
)
# How long the broker may hold a fetch that has no data yet. aiokafka keeps one fetch in flight per broker and
# leaves out of it the partitions whose records still wait in its buffer (while a batch is applied): records
# arriving on those partitions then wait for that fetch to come back, up to this long (500 ms by default,
# which showed in figure 2 at 100 payments/s). Only an idle consumer's fetches get more frequent.
FETCH_MAX_WAIT_MS = 50
# While the database cannot take the batch: short waits at first, never longer than 5 s between tries.
BATCH_BACKOFF = Backoff(0.05, cap=5.0)
# Lookups of the group coordinator within one lag measurement (each asks a random known broker).
_COORDINATOR_TRIES = 4
# Between restarts of a consumer that failed (a dead-letter topic that cannot be written, an offset commit).
RESTART_BACKOFF = Backoff(0.1, cap=5.0)
# How long a consumer may stand still behind, applying nothing, before its Kafka client is replaced: three
# session timeouts (aiokafka's is 10 s), time for a client that lost its group to rejoin by itself.
STALL_AFTER_SECONDS = 30.0
# How long a replaced client may take to leave its group; one that cannot is dropped anyway.
_CLIENT_STOP_SECONDS = 10.0


class ConsumerStalled(Exception):
    """The watchdog found the consumer behind and standing still, with no batch being applied."""


def worth_retrying(exc: BaseException) -> bool:
    """An error the same batch may not meet again: the database is unavailable (down, read-only, full,
    out of connections) or the transaction lost a race. Anything else is the record's own fault."""
    return isinstance(exc, _CONFLICTS) or database_unavailable(exc)


class Delivery(msgspec.Struct, frozen=True):
    """A record and its event (a Struct: one is built per record, see Envelope)."""

    record: ConsumerRecord
    envelope: Envelope


@dataclass(frozen=True)
class Applied:
    """A batch applied, and when it committed: its metrics are taken a little later (_report_applied)."""

    deliveries: list[Delivery]
    fresh: list[Delivery]
    at: datetime


@dataclass(frozen=True)
class Fetched:
    """A decoded batch, and the offsets to commit once it is applied."""

    deliveries: list[Delivery]
    offsets: dict[TopicPartition, int]
    prepared: object = None  # the batch handler's prepare() of every delivery, if it has one


class InboxConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        writer: Writer,
        handler: Handler | None = None,
        batch_handler: BatchHandler[Any] | None = None,
        dead_letters: DeadLetters,
        bootstrap_servers: str,
        batch_size: int = 500,
        start_from: str = "earliest",
        lag_every_seconds: float = 2.0,
        offsets_in_transaction: bool = False,
        decode_when_database_busy: bool = False,
        stall_after_seconds: float = STALL_AFTER_SECONDS,
    ) -> None:
        self.name = name
        self._start_from = start_from
        self._topics = list(topics)
        self._writer = writer
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler and batch_handler")
        self._handler = handler
        self._batch_handler = batch_handler
        self._dead_letters = dead_letters
        self._bootstrap = bootstrap_servers
        self._batch_size = batch_size
        self._offsets_in_transaction = offsets_in_transaction
        self._decode_when_database_busy = decode_when_database_busy
        self._unreported: list[Applied] = []
        self._consumer: AIOKafkaConsumer | None = None
        # The lag is asked on connections of its own: a broker answers a connection's requests one at a
        # time, and the consumer's fetches (long polls of up to fetch.max.wait.ms) would hold each offsets
        # request back, one after another, exactly while the consumer is far behind.
        self._offsets: AIOKafkaConsumer | None = None  # no group: end and beginning offsets only
        self._admin: AIOKafkaAdminClient | None = None  # the group's committed offsets
        self._coordinator: int | None = None  # the group coordinator's node, found once
        self._lag_every = lag_every_seconds
        self._lag_series: set[TopicPartition] = set()
        self._last_done: dict[TopicPartition, int] | None = None  # the offsets applied, as last measured
        self._span_attributes = kafka_spans.process_attributes(name)
        # The watchdog's: set while a batch is applied (waiting out the database is no stall), and when the
        # consumer was last seen moving (or could not be measured); set when it must replace its client.
        self._stall_after = stall_after_seconds
        self._applying = False
        self._moved_at = time.monotonic()
        self._stalled = asyncio.Event()

    def _new_client(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self.name,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset=self._start_from,
            max_poll_records=self._batch_size,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )

    async def start(self) -> None:
        self._consumer = self._new_client()
        await self._consumer.start()
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, client_id=f"{self.name}-lag", enable_auto_commit=False
        )
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=f"{self.name}-lag")
        await self._offsets.start()
        await self._admin.start()

    async def stop(self) -> None:
        self._report_applied()
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._offsets is not None:
            await self._offsets.stop()
            self._offsets = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def run(self) -> None:
        """Consume until cancelled, and report the lag on a timer meanwhile."""
        watch = asyncio.create_task(self.watch_lag(), name=f"lag {self.name}")
        try:
            await self._consume_forever()
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)

    async def _consume_forever(self) -> None:
        """Whatever fails (a dead-letter topic that cannot be written, an offset commit), the consumer
        rewinds to its committed offsets and goes on: it never dies quietly. Found stalled, it replaces its
        Kafka client, which starts at the committed offsets too."""
        starts = itertools.count()

        async def consume() -> None:
            restarted = next(starts) > 0
            if self._stalled.is_set():
                await self._replace_client()
            elif restarted:  # never go on from a position past a batch that was not committed
                await self._rewind()
            await self._consume_until_stalled()

        def failed(exc: Exception, wait: float) -> None:
            if isinstance(exc, ConsumerStalled):
                log.error(
                    "consumer stalled: behind, standing still, applying nothing; replacing its Kafka client",
                    consumer=self.name,
                    still_for_seconds=round(time.monotonic() - self._moved_at, 1),
                )
            else:
                log.exception("consumer failed; rewinding to the committed offsets", consumer=self.name)

        await retry(consume, backoff=RESTART_BACKOFF, on_retry=failed)

    async def _consume_until_stalled(self) -> None:
        """Consume until the watchdog says the consumer stalled (ConsumerStalled), or consuming fails."""
        consuming = asyncio.create_task(self._consume())
        stalled = asyncio.create_task(self._stalled.wait())
        try:
            done, _ = await asyncio.wait({consuming, stalled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (consuming, stalled):
                task.cancel()
            await asyncio.gather(consuming, stalled, return_exceptions=True)
        if consuming in done:
            return consuming.result()  # it only ends by failing: raised here
        raise ConsumerStalled(self.name)

    async def _replace_client(self) -> None:
        """Stop the stalled client (it leaves the group, if it still is in it) and start a new one, which
        joins the group and starts at the committed offsets. A start that fails (Kafka unreachable) leaves
        the consumer stalled: the next restart tries again."""
        assert self._consumer is not None
        try:
            async with asyncio.timeout(_CLIENT_STOP_SECONDS):
                await self._consumer.stop()
        except Exception as exc:
            log.warning("stalled Kafka client not stopped cleanly", consumer=self.name, error=repr(exc))
        self._consumer = self._new_client()
        await self._consumer.start()
        CONSUMER_CLIENT_RESTARTS.labels(self.name).inc()  # replacements done, not attempts
        self._stalled.clear()
        self._moved_at = time.monotonic()

    async def _rewind(self) -> None:
        """Go back to the last committed offsets: the failed batch is delivered again (the inbox dedupes)."""
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is not None:
                self._consumer.seek(tp, committed)
            elif self._start_from == "earliest":
                await self._consumer.seek_to_beginning(tp)

    async def _consume(self) -> None:
        """Fetch and decode the next batch while the current one's transaction runs (Python's work and the
        database's overlap). A batch's offsets go to Kafka once its transaction committed, while the next
        batch is applied: one commit in flight at a time, awaited before the next one starts, so they land in
        order and a failed one fails the loop (a Kafka round trip less in every batch's cycle)."""
        assert self._consumer is not None, "start() first"
        current = await self._fetch(None)
        following: asyncio.Task[Fetched] | None = None
        committing: asyncio.Task[None] | None = None
        try:
            while True:
                busy = asyncio.Event() if self._decode_when_database_busy else None
                following = asyncio.create_task(self._fetch(busy))
                told = _DATABASE_BUSY.set(busy)
                try:
                    if current.deliveries:
                        await self._apply_until_done(current.deliveries, current.prepared)
                    committing = await self._commit_after(committing, current.offsets)
                finally:
                    _DATABASE_BUSY.reset(told)
                if busy is not None:
                    busy.set()  # applied without saying so (a small batch, a redelivery): decode now
                current = await following
        except BaseException:
            # What was fetched, and offsets not committed yet, are delivered again after the rewind (and
            # skipped by the inbox or the stored offsets).
            pending = [task for task in (following, committing) if task is not None]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise

    async def _commit_after(
        self, previous: asyncio.Task[None] | None, offsets: dict[TopicPartition, int]
    ) -> asyncio.Task[None] | None:
        """Start committing `offsets` once the commit before them landed (its failure raises here)."""
        if previous is not None:
            await previous
        return asyncio.create_task(self._commit(offsets)) if offsets else None

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the offsets of the partitions still assigned. A partition that a rebalance gave to another
        member while its batch was applied is no longer ours to commit: its new owner starts from the last
        committed offset, and what it reads again has no second effect (the inbox, or the stored offsets).
        So a rebalance is no failure: no rewind, no error."""
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        ours = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if len(ours) < len(offsets):
            log.info("offsets of revoked partitions left to their new owner", consumer=self.name)
        if not ours:
            return
        try:
            await self._consumer.commit(ours)
        except (CommitFailedError, IllegalStateError) as exc:  # the group rebalanced during the commit
            log.info("offsets not committed: the group is rebalancing", consumer=self.name, error=repr(exc))
            return

    async def _fetch(self, busy: asyncio.Event | None) -> Fetched:
        """The next batch (empty after a quiet poll), decoded once `busy` is set (at once without it); poison
        records go to the DLQ here."""
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=200, max_records=self._batch_size)
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        if busy is not None:
            await busy.wait()
        self._report_applied()  # the batch before: Python has time while the database writes this one
        deliveries = await self._decode(batch)
        return Fetched(deliveries, offsets, await self._prepare_ahead(deliveries))

    async def _prepare_ahead(self, deliveries: list[Delivery]) -> object:
        """The batch handler's preparation of the deliveries, a slice at a time as they were decoded (a batch
        prepared at once, ~13 ms for a projection's 2,000 events, would keep the transaction meanwhile from
        sending its next statement); None if there is none, or if it failed: then the batch is prepared
        again in its transaction, where a failure isolates the record that causes it."""
        handler = self._batch_handler
        if handler is None or not deliveries:
            return None
        try:
            prepared = handler.start()
            for first in range(0, len(deliveries), DECODE_SLICE):
                await asyncio.sleep(0)
                handler.add(prepared, [d.envelope for d in deliveries[first : first + DECODE_SLICE]])
        except Exception:
            return None
        return prepared

    async def process(self, batch: Batch) -> None:
        deliveries = await self._decode(batch)
        if deliveries:
            await self._apply_until_done(deliveries)
        self._report_applied()

    async def _decode(self, batch: Batch) -> list[Delivery]:
        deliveries = []
        for records in batch.values():
            for i, record in enumerate(records):
                if i % DECODE_SLICE == 0:
                    await asyncio.sleep(0)  # let the transaction running meanwhile send its next statement
                try:
                    envelope = from_record(record.value, record.headers)
                except PoisonRecord as exc:
                    await self._dead_letters.send(record, str(exc))
                    continue
                if envelope is not None:  # None: a type this consumer does not know; tolerated
                    deliveries.append(Delivery(record, envelope))
        return deliveries

    async def _apply_until_done(self, deliveries: list[Delivery], prepared: object = None) -> None:
        """Apply the batch, waiting out an unavailable database for as long as it takes (the offsets wait
        too); only an error the records themselves cause sends the batch to be isolated record by record."""
        self._applying = True
        try:
            await self._apply_isolating_failures(deliveries, prepared)
        finally:
            self._applying = False
            self._moved_at = time.monotonic()

    async def _apply_isolating_failures(self, deliveries: list[Delivery], prepared: object) -> None:
        try:
            await self._apply_while_retryable(deliveries, prepared)
        except Exception:
            log.exception(
                "consumer batch failed; isolating its records",
                consumer=self.name,
                event_ids=[d.envelope.id for d in deliveries[:_LOGGED_IDS]],
                events=len(deliveries),
            )
            await self._apply_one_by_one(deliveries)

    async def _apply_while_retryable(self, deliveries: list[Delivery], prepared: object = None) -> None:
        def not_applied(exc: Exception, wait: float) -> None:
            CONSUMER_BATCH_RETRIES.labels(self.name, type(exc).__name__).inc()
            log.warning(
                "consumer batch not applied; retrying",
                consumer=self.name,
                error=repr(exc),
                retry_in_seconds=wait,
            )

        await retry(
            lambda: self._apply_batch(deliveries, prepared),
            backoff=BATCH_BACKOFF,
            retry_if=worth_retrying,
            on_retry=not_applied,
        )

    async def _apply_batch(self, deliveries: list[Delivery], prepared: object = None) -> None:
        async with self._writer.unit_of_work() as uow:
            fresh = await self._fresh(uow.conn, deliveries)
            if self._batch_handler is not None:
                if not fresh:
                    return  # every event was a redelivery: the inbox claim commits, nothing to apply
                with self._batch_span(fresh):
                    if prepared is None or len(fresh) < len(deliveries):
                        prepared = self._batch_handler.prepare([d.envelope for d in fresh])
                    await self._batch_handler.apply(uow, prepared)
            else:
                for delivery in fresh:
                    with self._span(delivery):
                        await self._handler(uow, delivery.envelope)  # type: ignore[misc]
        self._unreported.append(Applied(deliveries, fresh, datetime.now(UTC)))

    def _report_applied(self) -> None:
        """The metrics of the batches applied since the last call. Taken when the next batch's fetch goes on
        (for a consumer that decodes while the database writes, once it does), not right after the commit:
        there, with the next batch decoded already, they were ~6 % of the wall time of a batch, before its
        transaction could start."""
        applied, self._unreported = self._unreported, []
        for batch in applied:
            self._count(batch)
            self._observe_visibility(batch)

    async def _apply_one_by_one(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            try:
                await self._apply_while_retryable([delivery])
            except Exception as exc:
                await self._dead_letters.send(delivery.record, f"handler failed: {exc!r}")

    async def _fresh(self, conn: asyncpg.Connection, deliveries: list[Delivery]) -> list[Delivery]:
        """The deliveries not applied before, claimed in the caller's transaction."""
        if self._offsets_in_transaction:
            fresh = await self._claim_offsets(conn, deliveries)
        else:
            fresh = _first_of_each(deliveries, await self._claim(conn, [d.envelope.id for d in deliveries]))
        if len(fresh) < len(deliveries):
            EVENTS_DUPLICATE.labels(self.name).inc(len(deliveries) - len(fresh))
        return fresh

    async def _claim_offsets(self, conn: asyncpg.Connection, deliveries: list[Delivery]) -> list[Delivery]:
        """Lock the stored offsets of the batch's partitions (in one order, so two members meeting in a
        rebalance wait for each other instead of deadlocking), keep the deliveries at or past them, and store
        the offsets after the batch: they commit, or roll back, with what the handler writes."""
        lowest, after = _offset_ranges(deliveries)
        keys = sorted(after)
        topics, partitions = [topic for topic, _ in keys], [partition for _, partition in keys]
        locked = await conn.fetch(_CLAIM_OFFSETS, self.name, topics, partitions, [after[key] for key in keys])
        stored = {(row["topic"], row["partition"]): row["next_offset"] for row in locked}
        return _at_or_past(deliveries, lowest, stored)

    async def _claim(self, conn: asyncpg.Connection, event_ids: list[str]) -> set[str]:
        """Record the ids in the inbox; return those not seen before."""
        rows = await conn.fetch(
            "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            self.name,
            list(dict.fromkeys(event_ids)),
        )
        return {r["event_id"] for r in rows}

    @contextmanager
    def _span(self, delivery: Delivery) -> Iterator[None]:
        """One event: a CONSUMER span whose parent is the producer span the record's headers carry, and
        the event named on every line logged while it is handled."""
        record, envelope = delivery.record, delivery.envelope
        with (
            tracer().start_as_current_span(
                kafka_spans.process_name(record.topic),
                context=context_from(envelope.traceparent, envelope.tracestate),
                kind=SpanKind.CONSUMER,
                attributes={
                    **self._span_attributes,
                    "messaging.destination.name": record.topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.message.id": envelope.id,
                    **_key_attribute(record),
                    "cloudevents.event_type": envelope.type,
                },
            ),
            event_log_context(envelope.id, envelope.type),
        ):
            try:
                yield
            except Exception as exc:
                if not worth_retrying(exc):  # the event's own fault: said here, in its trace, by its id
                    log.error("event handler failed", consumer=self.name, exc_info=exc)
                raise

    def _batch_span(self, deliveries: list[Delivery]) -> AbstractContextManager[object]:
        """A batch: one CONSUMER span linked to each event's producer span (a single event is its child)."""
        if len(deliveries) == 1:
            return self._span(deliveries[0])
        links = list(itertools.islice(_links(deliveries), _MAX_LINKS))
        topics = sorted({d.record.topic for d in deliveries})
        attributes: dict[str, str | int] = {
            **self._span_attributes,
            "messaging.batch.message_count": len(deliveries),
        }
        if len(topics) == 1:  # the conventions' destination: one topic, else none
            attributes["messaging.destination.name"] = topics[0]
        return tracer().start_as_current_span(
            kafka_spans.process_name(",".join(topics)),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
        )

    def _count(self, applied: Applied) -> None:
        for model, count in Counter(type(d.envelope.event) for d in applied.deliveries).items():
            EVENTS_APPLIED.labels(self.name, model.type_name()).inc(count)
        newest = max(d.envelope.time for d in applied.deliveries)
        PROJECTION_LAG.labels(self.name).set(max(0.0, (applied.at - newest).total_seconds()))

    def _observe_visibility(self, applied: Applied) -> None:
        """How long each event took to take effect here (redeliveries excluded: they changed nothing),
        observed a type at a time (the series of each type looked up once per batch)."""
        now = applied.at
        by_model: defaultdict[type[Event], list[float]] = defaultdict(list)
        for delivery in applied.fresh:
            envelope = delivery.envelope
            by_model[type(envelope.event)].append(max(0.0, (now - envelope.time).total_seconds()))
        for model, seconds in by_model.items():
            observe_all(EVENT_VISIBILITY.labels(self.name, model.type_name()), seconds)

    async def watch_lag(self) -> None:
        """Report the lag on a timer, apart from consuming: a consumer paused by an unavailable database
        still shows its lag growing. Lag = the partition's end offset (asked of the broker) less what was
        committed; the series of partitions no longer assigned (a rebalance) are removed."""
        while True:
            try:
                async with asyncio.timeout(max(self._lag_every, 5.0)):
                    await self.measure_lag()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka unreachable: the gauges keep their last value
                log.warning("consumer lag not measured", consumer=self.name, error=repr(exc))
                # Nothing can be judged meanwhile: a client back from an outage has the whole stall time
                # to rejoin by itself.
                self._moved_at = time.monotonic()
            else:
                self._judge_stall()
            await asyncio.sleep(self._lag_every)

    def _judge_stall(self) -> None:
        """Tell the consumer to replace its client once it stood still behind, applying nothing, for the
        stall time (see the module's docstring)."""
        if self._applying or self._stalled.is_set():
            return
        if time.monotonic() - self._moved_at > self._stall_after:
            self._stalled.set()

    async def measure_lag(self) -> None:
        assert self._consumer is not None
        # Partitions, not positions: position() of a partition revoked while awaiting raises.
        assigned = set(self._consumer.assignment())
        for gone in self._lag_series - assigned:
            CONSUMER_LAG.remove(self.name, gone.topic, str(gone.partition))
        self._lag_series &= assigned
        # A member holding no partitions (more members than partitions, or a client left outside its group)
        # is judged by its group's: the lag series stay its own partitions'.
        watched = assigned or self._topic_partitions()
        if not watched:
            self._report_progress({}, caught_up=True)  # no partitions known yet
            return
        # One request of each kind for all the partitions, the end offsets and what is applied at once.
        ends, done = await asyncio.gather(self._end_offsets(watched), self._done_offsets(watched))
        for tp in assigned:
            CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(0, ends[tp] - done[tp]))
            self._lag_series.add(tp)
        self._report_progress(done, caught_up=all(done[tp] >= end for tp, end in ends.items()))

    def _topic_partitions(self) -> set[TopicPartition]:
        """Every partition of the consumer's topics, as its client's metadata knows them."""
        assert self._consumer is not None
        return {
            TopicPartition(topic, partition)
            for topic in self._topics
            for partition in self._consumer.partitions_for_topic(topic) or ()
        }

    def _report_progress(self, done: dict[TopicPartition, int], *, caught_up: bool) -> None:
        """Stamp the time when the consumer is at the end of its partitions or has moved forward since the
        last measurement. The stamp stops while it is behind and stuck (a paused or hung consumer, one whose
        task died, a process that cannot be scraped): its age is the alert, where the lag alone may look
        calm or stay frozen at its last value."""
        if caught_up or done != self._last_done:
            CONSUMER_PROGRESS_AT.labels(self.name).set(time.time())
            self._moved_at = time.monotonic()
        self._last_done = done

    async def _end_offsets(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        assert self._offsets is not None
        ends: dict[TopicPartition, int] = await self._offsets.end_offsets(sorted(partitions))
        return ends

    async def _done_offsets(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset up to which each partition is applied: the group's committed offset, as the broker
        says (one request for all of them), else (nothing committed yet) where the group starts reading: the
        partition's beginning, or its end for a consumer started at the latest records, which has nothing
        to do before new ones come (one request for all of those).

        Never a copy this process kept of its own commits: a partition that went to another member in a
        rebalance and came back between two measurements was committed further by that member, and the
        copy showed a lag that stayed (the full chaos run: 2140 on a group at 0)."""
        assert self._offsets is not None
        asked = sorted(partitions)
        committed = await self._group_offsets(asked)
        done = {tp: committed[tp] for tp in asked if committed.get(tp, -1) >= 0}
        unknown = [tp for tp in asked if tp not in done]
        if unknown:
            latest = self._start_from == "latest"
            starts = self._offsets.end_offsets if latest else self._offsets.beginning_offsets
            done |= await starts(unknown)
        return done

    async def _group_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The group's committed offsets (-1: none), asked of its coordinator in one request. The admin
        client asks a random known broker for the coordinator and fails at once on a dead one (a broker
        down: the full chaos run's gauges missed most measurements of that outage): the coordinator is
        looked up again, a few times, within the measurement."""
        assert self._admin is not None
        for attempt in itertools.count(1):
            try:
                if self._coordinator is None:
                    self._coordinator = await self._admin.find_coordinator(self.name)
                offsets = await self._admin.list_consumer_group_offsets(
                    self.name, group_coordinator_id=self._coordinator, partitions=partitions
                )
                if not offsets.keys() >= set(partitions):
                    # The coordinator answers every partition asked (-1 where none is committed). A broker
                    # that is not (or no longer) the coordinator puts NOT_COORDINATOR at the top of its
                    # answer, which aiokafka does not raise, and no partitions: read as "nothing committed",
                    # the gauges showed each partition's whole length (the full chaos run after a broker
                    # restart moved the coordinator: lag 3007 on a group at the end).
                    raise NotCoordinatorForGroupError(f"node {self._coordinator} is not the coordinator")
                return {tp: meta.offset for tp, meta in offsets.items()}
            except KafkaError as exc:
                self._coordinator = None  # it may have moved, or the broker asked is down: ask again
                if not exc.retriable or attempt >= _COORDINATOR_TRIES:
                    raise
        raise AssertionError("unreachable")


def _key_attribute(record: ConsumerRecord) -> dict[str, str]:
    """The record's key (an aggregate id, UTF-8), as the conventions want it: absent for a null key."""
    if record.key is None:
        return {}
    return {"messaging.kafka.message.key": bytes(record.key).decode(errors="replace")}


def _links(deliveries: list[Delivery]) -> Iterator[Link]:
    for delivery in deliveries:
        if link := link_to(delivery.envelope.traceparent, delivery.envelope.tracestate):
            yield link


def _at_or_past(
    deliveries: list[Delivery], lowest: dict[tuple[str, int], int], stored: dict[tuple[str, int], int]
) -> list[Delivery]:
    """The deliveries at or past their partition's stored offset. The usual batch lies wholly past them
    (each partition's lowest offset does): it is returned as it is, without looking at each delivery again."""
    if all(stored[key] <= offset for key, offset in lowest.items()):
        return deliveries
    return [d for d in deliveries if d.record.offset >= stored[(d.record.topic, d.record.partition)]]


def _offset_ranges(
    deliveries: list[Delivery],
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """Per (topic, partition) of the deliveries, the lowest offset of them and the offset after the highest.
    One pass of comparisons, not `min`/`max` calls: it runs for every record the consumer applies."""
    lowest: dict[tuple[str, int], int] = {}
    after: dict[tuple[str, int], int] = {}
    for delivery in deliveries:
        record = delivery.record
        key, offset = (record.topic, record.partition), record.offset
        if offset < lowest.get(key, offset + 1):
            lowest[key] = offset
        if offset >= after.get(key, 0):
            after[key] = offset + 1
    return lowest, after


# The stored offsets of the batch's partitions in one round trip (migrations/0007_claim_consumer_offsets.sql):
# rows made if missing (a new partition starts at 0), locked in one order, returned as they were before the
# batch, then moved to the offsets after it (only ever forward). `partition` is an int4, as ConsumerRecord's.
_CLAIM_OFFSETS = "SELECT topic, partition, next_offset FROM claim_consumer_offsets($1, $2, $3, $4)"


def _first_of_each(deliveries: list[Delivery], fresh_ids: set[str]) -> list[Delivery]:
    """The deliveries of fresh events, in order; a duplicate inside the batch applies once too."""
    seen: set[str] = set()
    fresh = []
    for delivery in deliveries:
        event_id = delivery.envelope.id
        if event_id in fresh_ids and event_id not in seen:
            seen.add(event_id)
            fresh.append(delivery)
    return fresh
