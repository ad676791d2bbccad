"""Event-sourced aggregates: pure objects rebuilt from their events; commands record new ones. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from paylinks_events import Event


class DomainError(Exception):
    """A command the aggregate refuses. `code` is stable and becomes the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Aggregate:
    """Base of every aggregate. Subclasses define `when_<EventType>(event)` methods that change state."""

    stream_type: str = "aggregate"

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[Event] = []

    @classmethod
    def replay(cls, aggregate_id: str, events: Iterable[Event]) -> Self:
        aggregate = cls(aggregate_id)
        for event in events:
            aggregate._mutate(event)
            aggregate.version += 1
        return aggregate

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self.pending)

    def record(self, event: Event) -> None:
        """Apply a new event and keep it for saving."""
        self._mutate(event)
        self.pending.append(event)

    def stored_form(self, event: Event) -> Event:
        """What the event store keeps of an event; the outbox always publishes the event itself.

        Override to keep a secret the contract puts on the wire (a capability URL) out of the store.
        """
        return event

    def _mutate(self, event: Event) -> None:
        handler = getattr(self, f"when_{event.type_name()}", None)
        if handler is not None:
            handler(event)
