"""Writes docs/asyncapi.json: the event contract's channels with each service's consumers taken from its
reaction registry (`make docs`)."""

from __future__ import annotations

from collections.abc import Sequence

from billing_service.reactions import REACTIONS as BILLING
from link_service.reactions import REACTIONS as LINK
from notifier.reactions import REACTIONS as NOTIFIER
from paylinks_events import Event
from paylinks_events.asyncapi import document
from reconciliation_service.projection import PLANNERS as RECONCILIATION


def consumers() -> dict[str, Sequence[type[Event]]]:
    """Each service's name -> the event classes it reacts to."""
    return {r.name: r.event_types for r in (BILLING, LINK, NOTIFIER, RECONCILIATION)}


def contract_document() -> str:
    return document(consumers=consumers())


if __name__ == "__main__":
    print(contract_document())
