"""Who reacts to which event: one typed registry keyed by event class, for aggregates (applying their own
events), policies (commands an event triggers) and projections (read models) alike.

A service declares its reactions in one place; the consumer's topics, the dispatch and the AsyncAPI
document's subscribe operations all come from that registry, so adding an event type to a service is one
decorated handler:

    REACTIONS: Reactions[UnitOfWork, Awaitable[None]] = Reactions("billing-service")

    @REACTIONS.on(ContactCreated)
    async def record_contact(uow: UnitOfWork, event: ContactCreated) -> None: ...

Dispatch is by the event's exact class (the contract's event classes have no subclasses); an event
nobody reacts to is ignored, as the contract asks of consumers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from paylinks_events import Event

Ctx = TypeVar("Ctx", contravariant=True)
R = TypeVar("R")
E = TypeVar("E", bound=Event)


class Reactions(Generic[Ctx, R]):
    """Handlers `(context, event) -> R`, at most one per event class."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: dict[type[Event], Callable[[Ctx, Any], R]] = {}

    def on(self, *event_types: type[E]) -> Callable[[Callable[[Ctx, E], R]], Callable[[Ctx, E], R]]:
        """Decorator: the function reacts to each of `event_types`."""

        def register(handler: Callable[[Ctx, E], R]) -> Callable[[Ctx, E], R]:
            for event_type in event_types:
                self.register(event_type, handler)
            return handler

        return register

    def register(self, event_type: type[E], handler: Callable[[Ctx, E], R]) -> None:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"{self.name}: {event_type!r} is not an event class")
        if event_type in self._handlers:
            raise ValueError(f"{self.name} already reacts to {event_type.__name__}")
        self._handlers[event_type] = handler

    def handler_for(self, event: Event) -> Callable[[Ctx, Any], R] | None:
        return self._handlers.get(type(event))

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        """The event classes reacted to, by name."""
        return tuple(sorted(self._handlers, key=lambda t: t.__name__))

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics the events reacted to arrive on: what the service's consumer subscribes to."""
        return tuple(sorted({str(t.topic) for t in self._handlers}))

    def apply(self: Reactions[Ctx, None], context: Ctx, event: Event) -> bool:
        """Run the synchronous handler for the event, if any; whether there was one."""
        handler = self.handler_for(event)
        if handler is None:
            return False
        handler(context, event)
        return True

    async def react(self: Reactions[Ctx, Awaitable[None]], context: Ctx, event: Event) -> bool:
        """Await the handler for the event, if any; whether there was one."""
        handler = self.handler_for(event)
        if handler is None:
            return False
        await handler(context, event)
        return True
