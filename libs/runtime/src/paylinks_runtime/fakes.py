"""In-memory stand-ins for the unit of work (cosmicpython's FakeUnitOfWork): command handlers unit-tested
without Postgres or Kafka, on the same `AbstractUnitOfWork` / `AbstractWriter` interface as production.

The fake keeps each stream's events with their versions and the outbox in lists, raises the same
ConcurrencyError when a stream moved on since its aggregate was loaded, and, like a transaction, keeps
nothing of a command that raised (streams and outbox; a service's fake tables keep what they hold).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from paylinks_events import Envelope, Event

from .aggregate import Aggregate
from .event_store import ConcurrencyError
from .retry import NO_WAIT, retry
from .unit_of_work import COMMAND_ATTEMPTS, AbstractUnitOfWork, is_conflict

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
Tables = TypeVar("Tables")


class FakeUnitOfWork(Generic[Tables]):
    def __init__(self, tables: Tables, source: str = "/test") -> None:
        self._tables = tables
        self.source = source
        self.streams: dict[str, list[Event]] = {}  # stream id -> its events; version n is [n - 1]
        self.outbox: list[Envelope] = []

    @property
    def tables(self) -> Tables:
        return self._tables

    def envelope(self, event: Event) -> Envelope:
        return Envelope(event=event, source=self.source)

    def version(self, stream_id: str) -> int:
        return len(self.streams.get(stream_id, ()))

    def events(self, stream_id: str) -> list[Event]:
        return list(self.streams.get(stream_id, ()))

    def published(self) -> list[Event]:
        """The events in the outbox, in the order the relay would publish them."""
        return [envelope.event for envelope in self.outbox]

    async def load(self, cls: type[A], aggregate_id: str) -> A:
        return cls.replay(aggregate_id, self.events(aggregate_id))

    async def save(self, aggregate: Aggregate) -> list[Envelope]:
        if self.version(aggregate.id) != aggregate.version:
            raise ConcurrencyError(f"stream {aggregate.id} is past version {aggregate.version}")
        envelopes = [self.envelope(event) for event in aggregate.pending]
        stream = self.streams.setdefault(aggregate.id, [])
        stream.extend(aggregate.stored_form(event) for event in aggregate.pending)
        aggregate.version = len(stream)
        aggregate.pending.clear()
        self.outbox.extend(envelopes)
        return envelopes

    async def publish(self, *events: Event) -> list[Envelope]:
        envelopes = [self.envelope(event) for event in events]
        self.outbox.extend(envelopes)
        return envelopes


class FakeWriter(Generic[Tables]):
    """Runs commands on one FakeUnitOfWork, as `Writer` does on Postgres: a command that raises leaves no
    event behind, and a concurrency conflict makes it decide again (up to `attempts` times)."""

    def __init__(self, uow: FakeUnitOfWork[Tables]) -> None:
        self.uow = uow
        self.attempts_made = 0

    async def execute(
        self,
        command: Callable[[AbstractUnitOfWork[Tables]], Awaitable[T]],
        *,
        attempts: int = COMMAND_ATTEMPTS,
    ) -> T:

        async def all_or_nothing() -> T:
            self.attempts_made += 1
            streams = {stream_id: list(events) for stream_id, events in self.uow.streams.items()}
            outbox = list(self.uow.outbox)
            try:
                return await command(self.uow)
            except BaseException:
                self.uow.streams, self.uow.outbox = streams, outbox
                raise

        return await retry(all_or_nothing, backoff=NO_WAIT, attempts=attempts, retry_if=is_conflict)
