"""From events to read-model rows, without I/O: a batch of events becomes one set of rows per table, so
the store writes a whole batch with one upsert per table (see projection_store.py).

Every event type owns its own columns and every write is an upsert of those columns, so applying an event
twice, or events in any order, leads to the same rows. Link changes are merged last-writer-wins on
(time, event id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import to_json

from paylinks_events import (
    BankAccountRegistered,
    ContactCreated,
    Envelope,
    Event,
    MatterOpened,
    PaymentFailed,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentUnallocated,
    PaymentUnlinked,
)
from paylinks_runtime.reactions import Reactions

Key = tuple[str, str]


def _details_json(details: dict[str, Any]) -> str:
    """History details as JSON for a jsonb column (which orders keys itself): pydantic's encoder, several
    times faster per row than the json module's."""
    return to_json(details, fallback=str).decode()


class BankAccountRow(NamedTuple):
    firm_id: str
    bank_account_id: str
    name: str
    kind: str
    currency: str


class ContactRow(NamedTuple):
    firm_id: str
    contact_id: str
    name: str
    email: str | None


class MatterRow(NamedTuple):
    firm_id: str
    matter_id: str
    contact_id: str
    name: str
    number: str | None


class ReceivedRow(NamedTuple):
    firm_id: str
    payment_id: str
    bank_account_id: str
    bill_id: str | None
    link_id: str | None
    source: str
    amount: int
    currency: str
    method: str
    payer_name: str
    payer_email: str
    reference: str | None
    card_brand: str | None
    last4: str | None
    received_at: datetime


class ProcessedRow(NamedTuple):
    firm_id: str
    payment_id: str
    bank_account_id: str
    bill_id: str | None
    amount: int
    currency: str
    method: str
    processed_at: datetime


class FailedRow(NamedTuple):
    firm_id: str
    payment_id: str
    failed_at: datetime
    failure_reason: str


class UnallocatedRow(NamedTuple):
    firm_id: str
    payment_id: str
    bill_id: str
    currency: str
    unallocated_amount: int
    unallocated_at: datetime


class LinkChangeRow(NamedTuple):
    firm_id: str
    payment_id: str
    link_state: str
    contact_id: str | None
    matter_id: str | None
    linked_by: str | None
    linked_at: datetime | None
    changed_at: datetime
    event_id: str


class HistoryRow(NamedTuple):
    event_id: str
    firm_id: str
    payment_id: str
    type: str
    at: datetime
    actor: str
    details: str  # JSON


@dataclass
class ProjectionWrites:
    """The rows one batch of events writes, one per key (a later event of the same kind replaces it)."""

    bank_accounts: dict[Key, BankAccountRow] = field(default_factory=dict)
    contacts: dict[Key, ContactRow] = field(default_factory=dict)
    matters: dict[Key, MatterRow] = field(default_factory=dict)
    received: dict[Key, ReceivedRow] = field(default_factory=dict)
    processed: dict[Key, ProcessedRow] = field(default_factory=dict)
    failed: dict[Key, FailedRow] = field(default_factory=dict)
    unallocated: dict[Key, UnallocatedRow] = field(default_factory=dict)
    link_changes: dict[Key, LinkChangeRow] = field(default_factory=dict)
    history: dict[str, HistoryRow] = field(default_factory=dict)

    def add_link_change(self, row: LinkChangeRow) -> None:
        key = (row.firm_id, row.payment_id)
        current = self.link_changes.get(key)
        if current is None or (row.changed_at, row.event_id) > (current.changed_at, current.event_id):
            self.link_changes[key] = row

    def add_history(
        self, envelope: Envelope, payment_id: str, at: datetime, actor: str, **details: Any
    ) -> None:
        self.history[envelope.id] = HistoryRow(
            envelope.id,
            envelope.event.firm_id,
            payment_id,
            envelope.type,
            at,
            actor,
            _details_json(details),
        )


def plan(envelopes: Iterable[Envelope]) -> ProjectionWrites:
    """The rows a batch of events writes; events the projection does not use are skipped."""
    writes = ProjectionWrites()
    for envelope in envelopes:
        PLANNERS.apply(Planned(writes, envelope), envelope.event)
    return writes


def _bank_account(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, BankAccountRegistered)
    writes.bank_accounts[(e.firm_id, e.bank_account_id)] = BankAccountRow(
        e.firm_id, e.bank_account_id, e.name, e.kind, e.currency
    )


def _contact(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, ContactCreated)
    writes.contacts[(e.firm_id, e.contact_id)] = ContactRow(e.firm_id, e.contact_id, e.name, e.email)


def _matter(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, MatterOpened)
    writes.matters[(e.firm_id, e.matter_id)] = MatterRow(
        e.firm_id, e.matter_id, e.contact_id, e.name, e.number
    )


def _received(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentReceived)
    writes.received[(e.firm_id, e.payment_id)] = ReceivedRow(
        e.firm_id,
        e.payment_id,
        e.bank_account_id,
        e.bill_id,
        e.link_id,
        e.source,
        e.amount,
        e.currency,
        e.method,
        e.payer.name,
        e.payer.email,
        e.reference,
        e.card_brand,
        e.last4,
        e.received_at,
    )
    writes.add_history(
        envelope,
        e.payment_id,
        e.received_at,
        envelope.source,
        amount=e.amount,
        currency=e.currency,
        source=e.source,
        bill_id=e.bill_id,
    )


def _processed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentProcessed)
    writes.processed[(e.firm_id, e.payment_id)] = ProcessedRow(
        e.firm_id, e.payment_id, e.bank_account_id, e.bill_id, e.amount, e.currency, e.method, e.processed_at
    )
    writes.add_history(envelope, e.payment_id, e.processed_at, envelope.source)


def _failed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentFailed)
    writes.failed[(e.firm_id, e.payment_id)] = FailedRow(e.firm_id, e.payment_id, e.failed_at, e.reason)
    writes.add_history(envelope, e.payment_id, e.failed_at, envelope.source, reason=e.reason)


def _unallocated(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentUnallocated)
    writes.unallocated[(e.firm_id, e.payment_id)] = UnallocatedRow(
        e.firm_id, e.payment_id, e.bill_id, e.currency, e.amount, e.unallocated_at
    )
    writes.add_history(
        envelope,
        e.payment_id,
        e.unallocated_at,
        envelope.source,
        amount=e.amount,
        bill_id=e.bill_id,
        reason=e.reason,
    )


def _linked(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentLinked)
    writes.add_link_change(
        LinkChangeRow(
            e.firm_id,
            e.payment_id,
            "linked",
            e.contact_id,
            e.matter_id,
            e.linked_by,
            e.linked_at,
            e.linked_at,
            envelope.id,
        )
    )
    writes.add_history(
        envelope, e.payment_id, e.linked_at, e.linked_by, contact_id=e.contact_id, matter_id=e.matter_id
    )


def _unlinked(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentUnlinked)
    writes.add_link_change(
        LinkChangeRow(e.firm_id, e.payment_id, "unlinked", None, None, None, None, e.unlinked_at, envelope.id)
    )
    writes.add_history(envelope, e.payment_id, e.unlinked_at, e.unlinked_by, reason=e.reason)


@dataclass(frozen=True)
class Planned:
    """Where a planner writes its rows, and the envelope it plans from (its id and source go in history)."""

    writes: ProjectionWrites
    envelope: Envelope


# Who in reconciliation's read model reacts to which event: the one place that says so.
PLANNERS: Reactions[Planned, None] = Reactions("reconciliation-service")


def _plans(event_type: type[Event], planner: Callable[[ProjectionWrites, Envelope], None]) -> None:
    PLANNERS.register(event_type, lambda planned, _event: planner(planned.writes, planned.envelope))


_plans(BankAccountRegistered, _bank_account)
_plans(ContactCreated, _contact)
_plans(MatterOpened, _matter)
_plans(PaymentReceived, _received)
_plans(PaymentProcessed, _processed)
_plans(PaymentFailed, _failed)
_plans(PaymentUnallocated, _unallocated)
_plans(PaymentLinked, _linked)
_plans(PaymentUnlinked, _unlinked)

# The topics the projection is made of, in no particular order: it converges whatever the interleaving.
PROJECTION_TOPICS: tuple[str, ...] = PLANNERS.topics
