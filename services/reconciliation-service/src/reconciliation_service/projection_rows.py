"""The rows a batch of events writes into the read model (one Row type per table write, the same columns in
the same order as its composite type in migrations/), and the set of them one batch makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from pydantic_core import to_json

from paylinks_events import Envelope

Key = tuple[str, str]


def details_json(details: Any) -> str:
    """History details (or payout lines) as JSON for a jsonb column (which orders keys itself): pydantic's
    encoder, several times faster per row than the json module's."""
    return to_json(details, fallback=str).decode()


def utc(moment: datetime) -> datetime:
    """An event's own time as the rows carry it: the same instant in `datetime.UTC`. Events' timestamps come
    from pydantic in its own `TzInfo`, which asyncpg encodes ~0.85 us slower a value (it asks the offset
    several times); an event's time goes into two or three rows (its table, the history, the ledger), and
    converting it once costs 0.76 us."""
    return moment.astimezone(UTC)


class Row(msgspec.Struct, frozen=True, gc=False):
    """A row of a table write: its fields are the columns of its composite type (migrations/), in order.
    A Struct, not a NamedTuple: a batch builds two or three per event, and a NamedTuple's Python-level
    `__new__` and the copy to a plain tuple COPY wants cost 0.67 us a row, a Struct and its `astuple` 0.16.
    Its fields are text, numbers and times: no reference cycle, so the collector does not track it."""


class BankAccountRow(Row, frozen=True):
    firm_id: str
    bank_account_id: str
    name: str
    kind: str
    currency: str


class ContactRow(Row, frozen=True):
    firm_id: str
    contact_id: str
    name: str
    email: str | None


class MatterRow(Row, frozen=True):
    firm_id: str
    matter_id: str
    contact_id: str
    name: str
    number: str | None


class ReceivedRow(Row, frozen=True):
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


class ProcessedRow(Row, frozen=True):
    firm_id: str
    payment_id: str
    bank_account_id: str
    bill_id: str | None
    amount: int
    currency: str
    method: str
    processed_at: datetime
    fee: int


class FailedRow(Row, frozen=True):
    firm_id: str
    payment_id: str
    failed_at: datetime
    failure_reason: str


class UnallocatedRow(Row, frozen=True):
    firm_id: str
    payment_id: str
    bill_id: str
    currency: str
    unallocated_amount: int
    unallocated_at: datetime


class LinkChangeRow(Row, frozen=True):
    firm_id: str
    payment_id: str
    link_state: str
    contact_id: str | None
    matter_id: str | None
    linked_by: str | None
    linked_at: datetime | None
    changed_at: datetime
    event_id: str


class HistoryRow(Row, frozen=True):
    event_id: str
    firm_id: str
    payment_id: str
    type: str
    at: datetime
    actor: str
    details: str  # JSON


class BillRow(Row, frozen=True):
    firm_id: str
    bill_id: str
    matter_id: str
    contact_id: str


class ReturnedRow(Row, frozen=True):
    firm_id: str
    payment_id: str
    returned_amount: int
    returned_reason: str
    returned_at: datetime


class PaidOutRow(Row, frozen=True):
    firm_id: str
    payment_id: str
    payout_id: str


class RefundRequestRow(Row, frozen=True):
    firm_id: str
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    reason: str
    requested_by: str
    requested_at: datetime


class RefundSuccessRow(Row, frozen=True):
    firm_id: str
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    succeeded_at: datetime


class RefundFailureRow(Row, frozen=True):
    firm_id: str
    refund_id: str
    payment_id: str
    failed_at: datetime
    failure_reason: str


class DisputeOpenedRow(Row, frozen=True):
    firm_id: str
    dispute_id: str
    payment_id: str
    amount: int
    currency: str
    reason: str
    evidence_due_by: datetime
    disputed_at: datetime


class DisputeClosedRow(Row, frozen=True):
    firm_id: str
    dispute_id: str
    payment_id: str
    amount: int
    currency: str
    outcome: str
    closed_at: datetime


class FeeRow(Row, frozen=True):
    firm_id: str
    fee_id: str
    given_back: bool
    payment_id: str
    kind: str
    amount: int
    currency: str
    bank_account_id: str
    charged_at: datetime


class PayoutRow(Row, frozen=True):
    firm_id: str
    payout_id: str
    bank_account_id: str
    amount: int
    currency: str
    arrival_date: date
    lines: str  # JSON


class MovementRow(Row, frozen=True):
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
    history: dict[tuple[str, str, str], HistoryRow] = field(default_factory=dict)
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
        self.history[(envelope.event.firm_id, payment_id, envelope.id)] = HistoryRow(
            envelope.id,
            envelope.event.firm_id,
            payment_id,
            envelope.type,
            at,
            actor,
            details_json(details),
        )
