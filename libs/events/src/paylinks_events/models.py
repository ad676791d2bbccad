"""One pydantic model per event type of CONTRACT.md. Required fields exactly as the contract names them.

Each class registers itself (paylinks_events.base): adding an event type is adding its class here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import AwareDatetime, Currency, Event, MinorUnits
from .topics import Topic

PaymentMethod = Literal["card", "echeck"]
PaymentSource = Literal["bank_account_link", "bill_link", "qr_code", "other"]
BankAccountKind = Literal["trust", "operating"]
ReversalReason = Literal["refund", "dispute", "return"]


class Payer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    # Validated as an address at the pay endpoint; a reader of the topic stays tolerant.
    email: str = Field(max_length=320)


class DebitAuthorization(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    text_version: str = Field(min_length=1, max_length=100)
    accepted_at: AwareDatetime
    name: str = Field(min_length=1, max_length=200)


# --- link.events -------------------------------------------------------------------------------------------


class BankAccountRegistered(Event):
    topic = Topic.LINK
    key_field = "bank_account_id"
    bank_account_id: str
    name: str
    kind: BankAccountKind
    currency: Currency = "USD"


class FirmProfileUpdated(Event):
    topic = Topic.LINK
    key_field = "firm_id"
    display_name: str = Field(min_length=1, max_length=200)
    # The operating account processing and dispute fees are taken from; None: the first operating account.
    fee_bank_account_id: str | None = None
    # Optional extension: the smallest payment its links take (minor units); None: one unit of the currency.
    minimum_payment_amount: MinorUnits | None = Field(default=None, gt=0)


class LinkIssued(Event):
    """v2: no `url`. A pay link is a bearer capability and is never broadcast."""

    topic = Topic.LINK
    key_field = "link_id"
    schema_version = 2
    link_id: str
    kind: Literal["bank_account", "bill"]
    bank_account_id: str
    bill_id: str | None = None
    issued_at: AwareDatetime

    @staticmethod
    def upcast_v1(payload: dict[str, Any]) -> dict[str, Any]:
        """v1 carried the pay URL; it is dropped wherever an old record is read."""
        payload.pop("url", None)
        return payload


class LinkRevoked(Event):
    topic = Topic.LINK
    key_field = "link_id"
    link_id: str
    reason: Literal["bill_voided", "bill_paid"]
    revoked_at: AwareDatetime


class BillLinksClosed(Event):
    """Extension of contract v2 (a new type on link.events; tolerant readers skip it): link-service applied a
    bill's void. Every pay link of the bill it had is revoked (`links_revoked` of them, possibly none) and it
    refuses any payment toward the bill from now on. A void is answered once this arrives: billing knows only
    the links it has read of, and one issued just before the void may not have reached it yet."""

    topic = Topic.LINK
    key_field = "bill_id"
    bill_id: str
    links_revoked: int = Field(ge=0)
    closed_at: AwareDatetime


class LinkPaused(Event):
    """Extension of contract v2 (a new type on link.events; tolerant readers skip it): a burst of declined
    cards on one link (card testing) paused it. Payments on it are refused until `paused_until`. Once per
    pause, never per refused request. No card data: only how many were declined and when."""

    topic = Topic.LINK
    key_field = "link_id"
    link_id: str
    bank_account_id: str
    bill_id: str | None = None  # the bill of a bill link
    declines: int = Field(gt=0)  # declined payments on the link within the window that paused it
    window_seconds: int = Field(gt=0)
    paused_at: AwareDatetime
    paused_until: AwareDatetime


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
    # An eCheck's debit authorization (NACHA WEB): what the payer accepted, when, under which name.
    authorization: DebitAuthorization | None = None


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
    # v2: the processing fee, taken from the firm's fee account (FeeCharged), never from this payment.
    fee: MinorUnits = Field(default=0, ge=0)


class PaymentFailed(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    payment_id: str
    reason: str
    failed_at: AwareDatetime


class PaymentReturned(Event):
    """A processed eCheck taken back by the payer's bank (an ACH return code such as R01 or R10)."""

    topic = Topic.PAYMENT
    key_field = "payment_id"
    payment_id: str
    bank_account_id: str
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    reason: str = Field(min_length=1)
    returned_at: AwareDatetime


class RefundRequested(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    refund_id: str
    payment_id: str
    bank_account_id: str
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    reason: str
    requested_by: str
    requested_at: AwareDatetime


class RefundSucceeded(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    refund_id: str
    payment_id: str
    bank_account_id: str
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    succeeded_at: AwareDatetime


class RefundFailed(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    refund_id: str
    payment_id: str
    reason: str
    failed_at: AwareDatetime


class PaymentDisputed(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    dispute_id: str
    payment_id: str
    bank_account_id: str
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    reason: str
    evidence_due_by: AwareDatetime
    disputed_at: AwareDatetime


class DisputeClosed(Event):
    topic = Topic.PAYMENT
    key_field = "payment_id"
    dispute_id: str
    payment_id: str
    outcome: Literal["won", "lost"]
    amount: MinorUnits = Field(gt=0)
    currency: Currency = "USD"
    closed_at: AwareDatetime


class FeeCharged(Event):
    """A fee taken from the firm's fee account: always an `operating` account, never trust (Rule 1.15).

    `amount` is signed: a dispute fee given back when the dispute is won is a FeeCharged of the same
    `fee_id` with the negative amount, so the sum of a firm's FeeCharged events is what it paid in fees.
    """

    topic = Topic.PAYMENT
    key_field = "payment_id"
    fee_id: str
    payment_id: str
    kind: Literal["processing", "dispute"]
    amount: MinorUnits
    currency: Currency = "USD"
    bank_account_id: str
    charged_at: AwareDatetime


# --- payout.events -----------------------------------------------------------------------------------------


PayoutLineType = Literal["payment", "refund", "dispute", "dispute_won", "return", "fee"]


class PayoutLine(BaseModel):
    """One movement in a payout, signed as the bank sees it: money in +, money out -."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: PayoutLineType
    payment_id: str
    refund_id: str | None = None
    fee_id: str | None = None
    amount: MinorUnits


class PayoutPaid(Event):
    """A bank deposit (or debit, when negative) from the processor, with the movements it is made of."""

    topic = Topic.PAYOUT
    key_field = "payout_id"
    payout_id: str
    bank_account_id: str
    amount: MinorUnits
    currency: Currency = "USD"
    arrival_date: date
    lines: tuple[PayoutLine, ...]

    @model_validator(mode="after")
    def _amount_is_the_sum_of_its_lines(self) -> PayoutPaid:
        if sum(line.amount for line in self.lines) != self.amount:
            raise ValueError("a payout's amount must be the sum of its lines")
        return self


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


class BillPaymentReversed(Event):
    """Money a payment had applied to the bill, given back to its balance (a refund, dispute or return)."""

    topic = Topic.BILLING
    key_field = "bill_id"
    bill_id: str
    payment_id: str
    amount: MinorUnits = Field(gt=0)
    balance: MinorUnits = Field(ge=0)
    reason: ReversalReason
    reversed_at: AwareDatetime


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
