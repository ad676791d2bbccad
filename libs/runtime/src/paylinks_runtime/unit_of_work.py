"""One transaction for a command: load aggregates, save their new events with the outbox, wake the relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import asyncpg

from paylinks_events import Envelope, Event

from . import event_store
from .aggregate import Aggregate
from .event_store import ConcurrencyError
from .tracing import current_trace_headers

A = TypeVar("A", bound=Aggregate)
# Conflicts a retry resolves: another writer appended first, or Postgres chose us as a deadlock victim.
RETRYABLE_CONFLICTS = (ConcurrencyError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
T = TypeVar("T")


class OutboxSignal:
    """Wakes the relay of this process right after a commit that wrote outbox rows (no NOTIFY needed)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives just
        # as the wait completes, and a relay woken by every commit then cannot be stopped.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool, source: str, signal: OutboxSignal | None = None) -> None:
        self._pool = pool
        self._source = source
        self._signal = signal
        self._wrote_outbox = False
        self.conn: asyncpg.Connection

    async def __aenter__(self) -> UnitOfWork:
        self.conn = await self._pool.acquire()
        self._tx = self.conn.transaction()
        await self._tx.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            await self._pool.release(self.conn)
        if exc_type is None and self._wrote_outbox and self._signal is not None:
            self._signal.notify()

    def envelope(self, event: Event) -> Envelope:
        """Wrap an event with this service as source and the trace context of the current operation."""
        trace = current_trace_headers()
        return Envelope(
            event=event,
            source=self._source,
            traceparent=trace.get("traceparent"),
            tracestate=trace.get("tracestate"),
        )

    async def load(self, cls: type[A], aggregate_id: str) -> A:
        return await event_store.load_aggregate(self.conn, cls, aggregate_id)

    async def save(self, aggregate: Aggregate) -> list[Envelope]:
        envelopes = [self.envelope(e) for e in aggregate.pending]
        stored = [aggregate.stored_form(e) for e in aggregate.pending]
        aggregate.version = await event_store.append(
            self.conn, aggregate.id, aggregate.stream_type, aggregate.version, envelopes, stored
        )
        aggregate.pending.clear()
        self._wrote_outbox = self._wrote_outbox or bool(envelopes)
        return envelopes

    async def publish(self, *events: Event) -> list[Envelope]:
        """Publish events that belong to no stream of ours (still through the outbox)."""
        envelopes = [self.envelope(e) for e in events]
        await event_store.enqueue(self.conn, envelopes)
        self._wrote_outbox = self._wrote_outbox or bool(envelopes)
        return envelopes


class Writer:
    """What a service's command handlers use to run a unit of work, retrying on concurrency conflicts."""

    def __init__(self, pool: asyncpg.Pool, source: str, signal: OutboxSignal | None = None) -> None:
        self.pool = pool
        self.source = source
        self.signal = signal

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.pool, self.source, self.signal)

    async def execute(self, command: Callable[[UnitOfWork], Awaitable[T]], *, attempts: int = 20) -> T:
        """Run `command` in a fresh transaction; on a conflict (see RETRYABLE_CONFLICTS) decide again."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.unit_of_work() as uow:
                    return await command(uow)
            except RETRYABLE_CONFLICTS:
                if attempt == attempts:
                    raise
                await asyncio.sleep(0.002 * attempt)
        raise AssertionError("unreachable")
