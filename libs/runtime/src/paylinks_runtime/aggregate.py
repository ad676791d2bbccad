"""Event-sourced aggregates: pure objects rebuilt from their events; commands record new ones. No I/O here."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from typing import Any, Self

from paylinks_events import Event

from .reactions import Reactions


class DomainError(Exception):
    """A command the aggregate refuses. `code` is stable and becomes the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Aggregate:
    """Base of every aggregate. Subclasses define `when_<EventType>(self, event: EventType)` methods that
    change state; each is registered, by the class in its annotation, in the class's `appliers`."""

    stream_type: str = "aggregate"
    appliers: Reactions[Any, None] = Reactions("Aggregate")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.appliers = Reactions(cls.__name__)
        for name in dir(cls):
            if name.startswith("when_"):
                method = getattr(cls, name)
                cls.appliers.register(_applied_event(cls, name, method), method)

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
        self.appliers.apply(self, event)  # events the aggregate keeps no state for change nothing


def _applied_event(cls: type, name: str, method: Callable[..., None]) -> type[Event]:
    """The event class a `when_<Name>` method is annotated with; it must be the one its name says."""
    hints = typing.get_type_hints(method)
    hints.pop("return", None)
    if len(hints) != 1:
        raise TypeError(f"{cls.__name__}.{name} must take one annotated event")
    [event_type] = hints.values()
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"{cls.__name__}.{name} is annotated with {event_type!r}, not an event class")
    if name != f"when_{event_type.type_name()}":
        raise TypeError(
            f"{cls.__name__}.{name} applies {event_type.type_name()}: name it when_{event_type.type_name()}"
        )
    return event_type
