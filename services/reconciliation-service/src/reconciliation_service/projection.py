"""From events to read-model rows, without I/O: a batch of events becomes one set of rows per table, so
the store writes a whole batch with one upsert per table (see projection_store.py).

Every event type owns its own columns and every write is an upsert of those columns, so applying an event
twice, or events in any order, leads to the same rows. Link changes are merged last-writer-wins on
(time, event id). Money after the payment (refunds, disputes, returns, fees, payouts) is kept in tables keyed
by its own id, and as signed ledger movements keyed by what moved, so sums over them are order-free too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from pydantic_core import to_json

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    ContactCreated,
    DisputeClosed,
    Envelope,
    Event,
    FeeCharged,
    MatterOpened,
    PaymentDisputed,
    PaymentFailed,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PaymentUnallocated,
    PaymentUnlinked,
    PayoutPaid,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)
from paylinks_runtime.reactions import Reactions

Key = tuple[str, str]


def _details_json(details: Any) -> str:
    """History details (or payout lines) as JSON for a jsonb column (which orders keys itself): pydantic's
    encoder, several times faster per row than the json module's."""
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
    fee: int


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


class BillRow(NamedTuple):
    firm_id: str
    bill_id: str
    matter_id: str
    contact_id: str


class ReturnedRow(NamedTuple):
    firm_id: str
    payment_id: str
    returned_amount: int
    returned_reason: str
    returned_at: datetime


class PaidOutRow(NamedTuple):
    firm_id: str
    payment_id: str
    payout_id: str


class RefundRequestRow(NamedTuple):
    firm_id: str
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    reason: str
    requested_by: str
    requested_at: datetime


class RefundSuccessRow(NamedTuple):
    firm_id: str
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    succeeded_at: datetime


class RefundFailureRow(NamedTuple):
    firm_id: str
    refund_id: str
    payment_id: str
    failed_at: datetime
    failure_reason: str


class DisputeOpenedRow(NamedTuple):
    firm_id: str
    dispute_id: str
    payment_id: str
    amount: int
    currency: str
    reason: str
    evidence_due_by: datetime
    disputed_at: datetime


class DisputeClosedRow(NamedTuple):
    firm_id: str
    dispute_id: str
    payment_id: str
    amount: int
    currency: str
    outcome: str
    closed_at: datetime


class FeeRow(NamedTuple):
    firm_id: str
    fee_id: str
    given_back: bool
    payment_id: str
    kind: str
    amount: int
    currency: str
    bank_account_id: str
    charged_at: datetime


class PayoutRow(NamedTuple):
    firm_id: str
    payout_id: str
    bank_account_id: str
    amount: int
    currency: str
    arrival_date: date
    lines: str  # JSON


class MovementRow(NamedTuple):
    """One signed movement of a payment's money in its bank account (the ledger's unit)."""

    firm_id: str
    movement_id: str
    payment_id: str
    kind: str
    amount: int
    at: datetime


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
    bills: dict[Key, BillRow] = field(default_factory=dict)
    returned: dict[Key, ReturnedRow] = field(default_factory=dict)
    paid_out: dict[Key, PaidOutRow] = field(default_factory=dict)
    refund_requests: dict[Key, RefundRequestRow] = field(default_factory=dict)
    refund_successes: dict[Key, RefundSuccessRow] = field(default_factory=dict)
    refund_failures: dict[Key, RefundFailureRow] = field(default_factory=dict)
    disputes_opened: dict[Key, DisputeOpenedRow] = field(default_factory=dict)
    disputes_closed: dict[Key, DisputeClosedRow] = field(default_factory=dict)
    fees: dict[tuple[str, str, bool], FeeRow] = field(default_factory=dict)
    payouts: dict[Key, PayoutRow] = field(default_factory=dict)
    movements: dict[Key, MovementRow] = field(default_factory=dict)

    def add_movement(
        self, firm_id: str, payment_id: str, kind: str, of: str, amount: int, at: datetime
    ) -> None:
        """A ledger movement, keyed by what moved (`of`: the payment, refund or dispute id)."""
        movement_id = f"{kind}:{of}"
        self.movements[(firm_id, movement_id)] = MovementRow(
            firm_id, movement_id, payment_id, kind, amount, at
        )

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
        e.firm_id,
        e.payment_id,
        e.bank_account_id,
        e.bill_id,
        e.amount,
        e.currency,
        e.method,
        e.processed_at,
        e.fee,
    )
    writes.add_movement(e.firm_id, e.payment_id, "payment", e.payment_id, e.amount, e.processed_at)
    writes.add_history(envelope, e.payment_id, e.processed_at, envelope.source, fee=e.fee)


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


def _bill(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, BillIssued)
    writes.bills[(e.firm_id, e.bill_id)] = BillRow(e.firm_id, e.bill_id, e.matter_id, e.contact_id)


def _returned(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentReturned)
    writes.returned[(e.firm_id, e.payment_id)] = ReturnedRow(
        e.firm_id, e.payment_id, e.amount, e.reason, e.returned_at
    )
    writes.add_movement(e.firm_id, e.payment_id, "return", e.payment_id, -e.amount, e.returned_at)
    writes.add_history(
        envelope, e.payment_id, e.returned_at, envelope.source, amount=e.amount, reason=e.reason
    )


def _refund_requested(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, RefundRequested)
    writes.refund_requests[(e.firm_id, e.refund_id)] = RefundRequestRow(
        e.firm_id, e.refund_id, e.payment_id, e.amount, e.currency, e.reason, e.requested_by, e.requested_at
    )
    writes.add_history(
        envelope,
        e.payment_id,
        e.requested_at,
        e.requested_by,
        refund_id=e.refund_id,
        amount=e.amount,
        reason=e.reason,
    )


def _refund_succeeded(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, RefundSucceeded)
    writes.refund_successes[(e.firm_id, e.refund_id)] = RefundSuccessRow(
        e.firm_id, e.refund_id, e.payment_id, e.amount, e.currency, e.succeeded_at
    )
    writes.add_movement(e.firm_id, e.payment_id, "refund", e.refund_id, -e.amount, e.succeeded_at)
    writes.add_history(
        envelope, e.payment_id, e.succeeded_at, envelope.source, refund_id=e.refund_id, amount=e.amount
    )


def _refund_failed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, RefundFailed)
    writes.refund_failures[(e.firm_id, e.refund_id)] = RefundFailureRow(
        e.firm_id, e.refund_id, e.payment_id, e.failed_at, e.reason
    )
    writes.add_history(
        envelope, e.payment_id, e.failed_at, envelope.source, refund_id=e.refund_id, reason=e.reason
    )


def _disputed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentDisputed)
    writes.disputes_opened[(e.firm_id, e.dispute_id)] = DisputeOpenedRow(
        e.firm_id,
        e.dispute_id,
        e.payment_id,
        e.amount,
        e.currency,
        e.reason,
        e.evidence_due_by,
        e.disputed_at,
    )
    writes.add_history(
        envelope,
        e.payment_id,
        e.disputed_at,
        envelope.source,
        dispute_id=e.dispute_id,
        amount=e.amount,
        reason=e.reason,
        evidence_due_by=e.evidence_due_by,
    )


def _dispute_closed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, DisputeClosed)
    writes.disputes_closed[(e.firm_id, e.dispute_id)] = DisputeClosedRow(
        e.firm_id, e.dispute_id, e.payment_id, e.amount, e.currency, e.outcome, e.closed_at
    )
    if e.outcome == "lost":  # an open or won dispute is not a loss: the money is still the client's
        writes.add_movement(e.firm_id, e.payment_id, "dispute_lost", e.dispute_id, -e.amount, e.closed_at)
    writes.add_history(
        envelope,
        e.payment_id,
        e.closed_at,
        envelope.source,
        dispute_id=e.dispute_id,
        outcome=e.outcome,
        amount=e.amount,
    )


def _fee(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, FeeCharged)
    given_back = e.amount < 0
    writes.fees[(e.firm_id, e.fee_id, given_back)] = FeeRow(
        e.firm_id,
        e.fee_id,
        given_back,
        e.payment_id,
        e.kind,
        e.amount,
        e.currency,
        e.bank_account_id,
        e.charged_at,
    )


def _payout(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PayoutPaid)
    lines = [line.model_dump() for line in e.lines]
    writes.payouts[(e.firm_id, e.payout_id)] = PayoutRow(
        e.firm_id, e.payout_id, e.bank_account_id, e.amount, e.currency, e.arrival_date, _details_json(lines)
    )
    for line in e.lines:
        if line.type == "payment":
            writes.paid_out[(e.firm_id, line.payment_id)] = PaidOutRow(
                e.firm_id, line.payment_id, e.payout_id
            )


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
_plans(BillIssued, _bill)
_plans(PaymentReturned, _returned)
_plans(RefundRequested, _refund_requested)
_plans(RefundSucceeded, _refund_succeeded)
_plans(RefundFailed, _refund_failed)
_plans(PaymentDisputed, _disputed)
_plans(DisputeClosed, _dispute_closed)
_plans(FeeCharged, _fee)
_plans(PayoutPaid, _payout)

# The topics the projection is made of, in no particular order: it converges whatever the interleaving.
PROJECTION_TOPICS: tuple[str, ...] = PLANNERS.topics
