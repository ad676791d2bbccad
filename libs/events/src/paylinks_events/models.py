"""One pydantic model per event type of CONTRACT.md. Required fields exactly as the contract names them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import AwareDatetime, Currency, Event, MinorUnits
from .topics import Topic

PaymentMethod = Literal["card", "echeck"]
PaymentSource = Literal["bank_account_link", "bill_link", "qr_code", "other"]
BankAccountKind = Literal["trust", "operating"]


class Payer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    # Validated as an address at the pay endpoint; a reader of the topic stays tolerant.
    email: str = Field(max_length=320)


# --- link.events -------------------------------------------------------------------------------------------


class BankAccountRegistered(Event):
    topic = Topic.LINK
    key_field = "bank_account_id"
    bank_account_id: str
    name: str
    kind: BankAccountKind
    currency: Currency = "USD"


class LinkIssued(Event):
    topic = Topic.LINK
    key_field = "link_id"
    link_id: str
    kind: Literal["bank_account", "bill"]
    bank_account_id: str
    bill_id: str | None = None
    url: str
    issued_at: AwareDatetime


class LinkRevoked(Event):
    topic = Topic.LINK
    key_field = "link_id"
    link_id: str
    reason: Literal["bill_voided", "bill_paid"]
    revoked_at: AwareDatetime


# --- payment.events ----------------------------------------------------------------------------------------


class PaymentReceived(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    payment_id: str
    bank_account_id: str
    link_id: str | None = None
    bill_id: str | None = None
    source: PaymentSource
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    method: PaymentMethod
    payer: Payer
    reference: str | None = None
    received_at: AwareDatetime
    # Optional extensions: what a person may see of the instrument. Never the number itself.
    card_brand: str | None = None
    last4: str | None = Field(default=None, pattern=r"^\d{4}$")


class PaymentProcessed(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    payment_id: str
    bank_account_id: str
    bill_id: str | None = None
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    method: PaymentMethod
    processed_at: AwareDatetime


class PaymentFailed(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    payment_id: str
    reason: str
    failed_at: AwareDatetime


# --- billing.events ----------------------------------------------------------------------------------------


class BillIssued(Event):
    topic = Topic.BILLING
    key_field = "bill_id"
    bill_id: str
    matter_id: str
    contact_id: str
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    issued_at: AwareDatetime
    bill_number: str | None = None
    due_date: str | None = None


class BillVoided(Event):
    topic = Topic.BILLING
    key_field = "bill_id"
    bill_id: str
    voided_at: AwareDatetime


class BillPaymentApplied(Event):
    topic = Topic.BILLING
    key_field = "bill_id"
    bill_id: str
    payment_id: str
    amount: MinorUnits = Field(gt=0)
    balance: MinorUnits = Field(ge=0)
    applied_at: AwareDatetime


class BillPaid(Event):
    topic = Topic.BILLING
    key_field = "bill_id"
    bill_id: str
    paid_at: AwareDatetime


class PaymentUnallocated(Event):
    topic = Topic.BILLING
    key_field = "bill_id"
    bill_id: str
    payment_id: str
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    reason: Literal["bill_void", "overpayment"]
    unallocated_at: AwareDatetime


# --- reconciliation.events ---------------------------------------------------------------------------------


class PaymentLinked(Event):
    topic = Topic.RECONCILIATION
    key_field = "payment_id"
    payment_id: str
    contact_id: str | None = None
    matter_id: str | None = None
    linked_by: str
    linked_at: AwareDatetime


class PaymentUnlinked(Event):
    topic = Topic.RECONCILIATION
    key_field = "payment_id"
    payment_id: str
    unlinked_by: str
    reason: str
    unlinked_at: AwareDatetime


# --- practice.events (published by practice-management systems outside) -----------------------------------


class ContactCreated(Event):
    topic = Topic.PRACTICE
    key_field = "contact_id"
    contact_id: str
    name: str
    email: str | None = None


class MatterOpened(Event):
    topic = Topic.PRACTICE
    key_field = "matter_id"
    matter_id: str
    contact_id: str
    name: str
    # Optional extension: the firm's matter number, e.g. "2026-0042".
    number: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name(): cls
    for cls in (
        BankAccountRegistered,
        LinkIssued,
        LinkRevoked,
        PaymentReceived,
        PaymentProcessed,
        PaymentFailed,
        BillIssued,
        BillVoided,
        BillPaymentApplied,
        BillPaid,
        PaymentUnallocated,
        PaymentLinked,
        PaymentUnlinked,
        ContactCreated,
        MatterOpened,
    )
}
