"""From events to read-model rows, without I/O: a batch of events becomes one set of rows per table, so
the store writes a whole batch with one upsert per table (see projection_store.py).

Every event type owns its own columns and every write is an upsert of those columns, so applying an event
twice, or events in any order, leads to the same rows. Link changes are merged last-writer-wins on
(time, event id). Money after the payment (refunds, disputes, returns, fees, payouts) is kept in tables keyed
by its own id, and as signed ledger movements keyed by what moved, so sums over them are order-free too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

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

from .projection_money import MONEY_PLANNERS
from .projection_rows import (
    BankAccountRow,
    ContactRow,
    FailedRow,
    LinkChangeRow,
    MatterRow,
    ProcessedRow,
    ProjectionWrites,
    ReceivedRow,
    UnallocatedRow,
    utc,
)

__all__ = ["PLANNERS", "PROJECTION_TOPICS", "ProjectionWrites", "plan", "plan_into"]


def plan(envelopes: Iterable[Envelope]) -> ProjectionWrites:
    """The rows a batch of events writes; events the projection does not use are skipped."""
    writes = ProjectionWrites()
    plan_into(writes, envelopes)
    return writes


def plan_into(writes: ProjectionWrites, envelopes: Iterable[Envelope]) -> None:
    """Add these events' rows to a batch's, as if they came after the events planned into it before."""
    for envelope in envelopes:
        PLANNERS.apply(Planned(writes, envelope), envelope.event)


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
    at = utc(e.received_at)
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
        at,
    )
    writes.add_history(
        envelope,
        e.payment_id,
        at,
        envelope.source,
        amount=e.amount,
        currency=e.currency,
        source=e.source,
        bill_id=e.bill_id,
    )


def _processed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentProcessed)
    at = utc(e.processed_at)
    writes.processed[(e.firm_id, e.payment_id)] = ProcessedRow(
        e.firm_id,
        e.payment_id,
        e.bank_account_id,
        e.bill_id,
        e.amount,
        e.currency,
        e.method,
        at,
        e.fee,
    )
    writes.add_movement(e.firm_id, e.payment_id, "payment", e.payment_id, e.amount, at)
    writes.add_history(envelope, e.payment_id, at, envelope.source, fee=e.fee)


def _failed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentFailed)
    at = utc(e.failed_at)
    writes.failed[(e.firm_id, e.payment_id)] = FailedRow(e.firm_id, e.payment_id, at, e.reason)
    writes.add_history(envelope, e.payment_id, at, envelope.source, reason=e.reason)


def _unallocated(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentUnallocated)
    at = utc(e.unallocated_at)
    writes.unallocated[(e.firm_id, e.payment_id)] = UnallocatedRow(
        e.firm_id, e.payment_id, e.bill_id, e.currency, e.amount, at
    )
    writes.add_history(
        envelope,
        e.payment_id,
        at,
        envelope.source,
        amount=e.amount,
        bill_id=e.bill_id,
        reason=e.reason,
    )


def _linked(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentLinked)
    at = utc(e.linked_at)
    writes.add_link_change(
        LinkChangeRow(
            e.firm_id,
            e.payment_id,
            "linked",
            e.contact_id,
            e.matter_id,
            e.linked_by,
            at,
            at,
            envelope.id,
        )
    )
    writes.add_history(
        envelope, e.payment_id, at, e.linked_by, contact_id=e.contact_id, matter_id=e.matter_id
    )


def _unlinked(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentUnlinked)
    at = utc(e.unlinked_at)
    writes.add_link_change(
        LinkChangeRow(e.firm_id, e.payment_id, "unlinked", None, None, None, None, at, envelope.id)
    )
    writes.add_history(envelope, e.payment_id, at, e.unlinked_by, reason=e.reason)


class Planned(msgspec.Struct, frozen=True):
    """Where a planner writes its rows, and the envelope it plans from (its id and source go in history).
    A Struct: one is built per event, 0.1 us against a frozen dataclass's 0.7 (`object.__setattr__` a
    field)."""

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
for _event_type, _planner in MONEY_PLANNERS:
    _plans(_event_type, _planner)

# The topics the projection is made of, in no particular order: it converges whatever the interleaving.
PROJECTION_TOPICS: tuple[str, ...] = PLANNERS.topics
