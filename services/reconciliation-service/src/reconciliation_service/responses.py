"""What each JSON operation of the staff API answers (CONTRACT.md §2, reconciliation-service), as models, so
the OpenAPI document describes every response. The views build the same fields as dicts (the pages render
those); a unit test keeps the two in step, since a response model silently drops a key it does not name."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from paylinks_events.models import PayoutLine

PaymentStatus = Literal["pending", "ready", "linked", "failed"]


class Payer(BaseModel):
    name: str
    email: str | None


class Suggestion(BaseModel):
    """A contact or matter the payment probably belongs to, and why."""

    kind: Literal["contact", "matter"]
    id: str
    name: str
    number: str | None = Field(description="the matter's number (null for a contact)")
    reason: Literal["payer_email", "reference"]


class PaymentItem(BaseModel):
    """One payment of the unlinked-payments list: the contract's fields, then this service's additions.
    A payment is known from whichever of its events came first, so most fields can still be null."""

    payment_id: str
    amount: int | None = Field(description="minor units")
    currency: str | None
    method: str | None = Field(description="card or echeck")
    source: str | None
    bank_account_id: str | None
    payer: Payer | None
    status: PaymentStatus
    received_at: datetime | None
    processed_at: datetime | None
    bank_account_name: str | None
    bank_account_kind: str | None
    reference: str | None
    bill_id: str | None
    unallocated_amount: int | None = Field(description="the part of a bill payment that no bill took")
    card_brand: str | None
    last4: str | None
    waiting_seconds: int | None = Field(description="how long it has waited for staff (until linked)")
    suggestions: list[Suggestion]


class Dispute(BaseModel):
    """The payment's latest dispute."""

    dispute_id: str
    status: Literal["open", "won", "lost"]
    amount: int
    evidence_due_by: datetime | None


class Returned(BaseModel):
    """The bank returned the eCheck (its return code and when)."""

    reason: str | None
    returned_at: datetime
    amount: int | None


class PaymentDetail(PaymentItem):
    contact_id: str | None
    contact_name: str | None
    matter_id: str | None
    matter_name: str | None
    matter_number: str | None
    linked_by: str | None
    linked_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    fee: int | None = Field(description="the processing fee, taken from the operating account")
    refunded_amount: int = Field(description="refunds that went through")
    dispute: Dispute | None
    returned: Returned | None
    payout_id: str | None = Field(description="the payout (deposit) it was paid out in; null until then")


class PaymentPage(BaseModel):
    items: list[PaymentItem]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class WaitingTotal(BaseModel):
    """The payments waiting in one account, status and currency."""

    bank_account_id: str | None
    bank_account_name: str | None
    bank_account_kind: str | None
    status: PaymentStatus
    currency: str | None
    count: int
    amount: int | None
    oldest_received_at: datetime | None
    max_waiting_seconds: int | None


class WaitingTotals(BaseModel):
    items: list[WaitingTotal]


class HistoryEntry(BaseModel):
    """One change to the payment: the event, when, who (a user, or the service that reported it), details."""

    event_id: str
    type: str
    at: datetime
    by: str | None
    details: dict[str, Any]


class PaymentHistory(BaseModel):
    items: list[HistoryEntry]


class Deposit(BaseModel):
    """A bank deposit (or debit, when negative) and the payout lines it is made of."""

    payout_id: str
    bank_account_id: str
    bank_account_name: str | None
    amount: int
    currency: str
    arrival_date: date
    lines: list[PayoutLine]


class Deposits(BaseModel):
    items: list[Deposit]


class ClientLedger(BaseModel):
    matter_id: str | None
    contact_id: str | None
    balance: int
    at_risk: int = Field(description="what the payer can still take back (chargeback, return, open dispute)")


class TrustReconciliationView(BaseModel):
    """The three-way trust reconciliation: deposited + in_transit = ledger = client ledgers + unidentified."""

    bank_account_id: str
    as_of: datetime
    currency: str
    deposited: int
    in_transit: int
    ledger: int
    client_ledgers: list[ClientLedger]
    unidentified: int
    balanced: bool
    fees_on_trust: int = Field(description="fees found on this trust account: each one a bug, never expected")


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a CSV document (RFC 4180) with a header row",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
