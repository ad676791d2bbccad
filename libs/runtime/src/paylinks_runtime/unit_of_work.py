"""One transaction for a command: load aggregates, save their new events with the outbox, wake the relay.

Command handlers are written against `AbstractUnitOfWork` and `AbstractWriter` (what they may do in their
transaction), so they run the same on Postgres (`UnitOfWork`, `Writer`, here) and on the in-memory
`FakeUnitOfWork` of `paylinks_runtime.fakes` in unit tests. `tables` is the service's own port to the tables
it reads and writes in the same transaction (a read model, lookups): by default the connection itself; a
service whose commands are unit-tested gives a factory that wraps the connection in its port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, Protocol, cast

import asyncpg
from typing_extensions import TypeVar

from paylinks_events import Envelope, Event

from . import event_store
from .aggregate import Aggregate
from .event_store import ConcurrencyError
from .retry import Backoff, retry
from .tracing import current_trace_headers
from .wakeup import woken_or_polled

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
# The tables port of a unit of work; a plain connection unless the service names its own.
Tables = TypeVar("Tables", default=asyncpg.Connection)
Tables_co = TypeVar("Tables_co", covariant=True)
Other = TypeVar("Other")
# Conflicts a retry resolves: another writer appended first, or Postgres chose us as a deadlock victim.
RETRYABLE_CONFLICTS = (ConcurrencyError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
COMMAND_ATTEMPTS = 20
# Short waits at first (the writer that won is done within milliseconds; the loser decides again on fresh
# state), longer ones under a crowd: 20 attempts span about 1.4 s, 100 (a bill's racing payers) about 9 s.
CONFLICT_BACKOFF = Backoff(0.002, cap=0.1)


def is_conflict(error: Exception) -> bool:
    return isinstance(error, RETRYABLE_CONFLICTS)


class AbstractUnitOfWork(Protocol[Tables_co]):
    """What a command may do inside its transaction: nothing of it is kept unless the whole command ends."""

    @property
    def tables(self) -> Tables_co:
        """The service's tables, read and written in this same transaction."""
        ...

    def envelope(self, event: Event) -> Envelope: ...

    async def load(self, cls: type[A], aggregate_id: str) -> A:
        """The aggregate as its stream holds it (a new, empty one when there is no stream)."""
        ...

    async def save(self, aggregate: Aggregate) -> list[Envelope]:
        """Append the aggregate's pending events and put them in the outbox; ConcurrencyError if its
        stream moved on since it was loaded."""
        ...

    async def publish(self, *events: Event) -> list[Envelope]:
        """Put events that belong to no stream of ours in the outbox."""
        ...


class AbstractWriter(Protocol[Tables_co]):
    """Runs a command in a fresh unit of work, deciding again after a concurrency conflict."""

    async def execute(
        self,
        command: Callable[[AbstractUnitOfWork[Tables_co]], Awaitable[T]],
        *,
        attempts: int = COMMAND_ATTEMPTS,
    ) -> T: ...


def _connection(conn: asyncpg.Connection) -> asyncpg.Connection:
    return conn


def envelope_of(event: Event, source: str) -> Envelope:
    """Wrap an event with the service as source and the trace context of the current operation."""
    trace = current_trace_headers()
    return Envelope(
        event=event, source=source, traceparent=trace.get("traceparent"), tracestate=trace.get("tracestate")
    )


class OutboxSignal:
    """Wakes the relay of this process right after a commit that wrote outbox rows (no NOTIFY needed)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        await woken_or_polled(self._event, timeout)


class _OutboxWrites:
    """Whether a transaction wrote outbox rows: shared by every view of it (see `with_tables`)."""

    wrote = False


class UnitOfWork(Generic[Tables]):
    """The Postgres unit of work: one connection, one transaction."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        source: str,
        signal: OutboxSignal | None = None,
        tables: Callable[[asyncpg.Connection], Tables] | None = None,
    ) -> None:
        self._pool = pool
        self._source = source
        self._signal = signal
        self._tables_of = tables or cast(Callable[[asyncpg.Connection], Tables], _connection)
        self._outbox = _OutboxWrites()
        self.conn: asyncpg.Connection

    @property
    def tables(self) -> Tables:
        return self._tables

    def with_tables(self, tables: Callable[[asyncpg.Connection], Other]) -> UnitOfWork[Other]:
        """This same transaction seen through another tables port (a consumer calling a command)."""
        view = UnitOfWork(self._pool, self._source, self._signal, tables)
        view.conn = self.conn
        view._tables = tables(self.conn)
        view._outbox = self._outbox
        return view

    async def __aenter__(self) -> UnitOfWork[Tables]:
        self.conn = await self._pool.acquire()
        self._tables = self._tables_of(self.conn)
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
        if exc_type is None and self._outbox.wrote and self._signal is not None:
            self._signal.notify()

    def envelope(self, event: Event) -> Envelope:
        return envelope_of(event, self._source)

    async def load(self, cls: type[A], aggregate_id: str) -> A:
        return await event_store.load_aggregate(self.conn, cls, aggregate_id)

    async def save(self, aggregate: Aggregate) -> list[Envelope]:
        envelopes = [self.envelope(e) for e in aggregate.pending]
        stored = [aggregate.stored_form(e) for e in aggregate.pending]
        aggregate.version = await event_store.append(
            self.conn, aggregate.id, aggregate.stream_type, aggregate.version, envelopes, stored
        )
        aggregate.pending.clear()
        self._outbox.wrote = self._outbox.wrote or bool(envelopes)
        return envelopes

    async def publish(self, *events: Event) -> list[Envelope]:
        """Publish events that belong to no stream of ours (still through the outbox)."""
        envelopes = [self.envelope(e) for e in events]
        await event_store.enqueue(self.conn, envelopes)
        self._outbox.wrote = self._outbox.wrote or bool(envelopes)
        return envelopes


class Writer(Generic[Tables]):
    """What a service's command handlers use to run a unit of work, retrying on concurrency conflicts."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        source: str,
        signal: OutboxSignal | None = None,
        tables: Callable[[asyncpg.Connection], Tables] | None = None,
    ) -> None:
        self.pool = pool
        self.source = source
        self.signal = signal
        self._tables = tables

    def with_tables(self, tables: Callable[[asyncpg.Connection], Other]) -> Writer[Other]:
        """A writer on the same pool whose units of work show the service's own tables port."""
        return Writer(self.pool, self.source, self.signal, tables)

    def unit_of_work(self) -> UnitOfWork[Tables]:
        return UnitOfWork(self.pool, self.source, self.signal, self._tables)

    async def save_when(self, aggregate: Aggregate, guard: str, *guard_args: object) -> bool:
        """Save the aggregate's new events only if `guard`, a write of the caller's, returns a row: both in
        ONE statement (event_store.append_when), so a unit of work of one write and its events costs one
        round trip instead of BEGIN, the write, the append and COMMIT. False: the guard wrote nothing, and
        the aggregate is left unsaved."""
        pending = list(aggregate.pending)
        envelopes = [envelope_of(event, self.source) for event in pending]
        stored = [aggregate.stored_form(event) for event in pending]
        async with self.pool.acquire() as conn:
            version = await event_store.append_when(
                conn,
                guard,
                guard_args,
                aggregate.id,
                aggregate.stream_type,
                aggregate.version,
                envelopes,
                stored,
            )
        if version is None:
            return False
        aggregate.version = version
        aggregate.pending.clear()
        if self.signal is not None:
            self.signal.notify()
        return True

    async def execute(
        self, command: Callable[[UnitOfWork[Tables]], Awaitable[T]], *, attempts: int = COMMAND_ATTEMPTS
    ) -> T:
        """Run `command` in a fresh transaction; on a conflict (see RETRYABLE_CONFLICTS) decide again."""

        async def in_a_transaction() -> T:
            async with self.unit_of_work() as uow:
                return await command(uow)

        return await retry(
            in_a_transaction, backoff=CONFLICT_BACKOFF, attempts=attempts, retry_if=is_conflict
        )
