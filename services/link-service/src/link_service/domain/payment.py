"""A client's payment: received at intake, then processed or failed when the processor reports back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from paylinks_events import (
    DebitAuthorization,
    DisputeClosed,
    FeeCharged,
    Payer,
    PaymentDisputed,
    PaymentFailed,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)
from paylinks_events.models import PaymentMethod
from paylinks_runtime.aggregate import Aggregate, DomainError

PaymentSource = Literal["bank_account_link", "bill_link", "qr_code"]
PaymentStatus = Literal["new", "received", "processed", "failed", "returned"]
DisputeOutcome = Literal["won", "lost"]
FeeKind = Literal["processing", "dispute"]
RefundStatus = Literal["pending", "succeeded", "failed"]


class OutOfOrder(DomainError):
    """A processor report that follows one not applied yet: answered 409, so the processor sends it again."""

    def __init__(self, why: str) -> None:
        super().__init__("out_of_order", why)


@dataclass(frozen=True)
class DisputeReport:
    dispute_id: str
    amount: int
    reason: str
    evidence_due_by: datetime
    fee: int
    fee_id: str | None


@dataclass(frozen=True)
class OpenedDispute:
    amount: int
    outcome: DisputeOutcome | None = None  # None while open

    @property
    def closed(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True)
class RefundAsk:
    """What an admin asks to give back: a part (or all) of the payment, never its processing fee."""

    amount: int
    reason: str
    requested_by: str


@dataclass(frozen=True)
class Destination:
    """Where a payment goes: the link it came through, its account and (for a bill link) its bill."""

    firm_id: str
    link_id: str
    bank_account_id: str
    bill_id: str | None
    currency: str
    source: PaymentSource


@dataclass(frozen=True)
class Receipt:
    """What the payer asked for, kept with the attempt while the processor is asked: PaymentReceived is
    recorded from it once the charge is taken (by the request, or by recovery after a crash)."""

    to: Destination
    amount: int
    method: PaymentMethod
    payer: Payer
    reference: str | None
    authorization: DebitAuthorization | None  # eCheck only: the debit authorization the payer accepted


class Payment(Aggregate):
    stream_type = "payment"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: PaymentStatus = "new"
        self.received: PaymentReceived | None = None
        self.disputes: dict[str, OpenedDispute] = {}
        self.refunds: dict[str, RefundRequested] = {}
        self.refund_outcomes: dict[str, RefundStatus] = {}  # a requested refund without one is pending
        self.returned_amount = 0

    @classmethod
    def receive(
        cls,
        payment_id: str,
        receipt: Receipt,
        *,
        method: PaymentMethod,
        brand: str | None,
        last4: str | None,
        now: datetime,
    ) -> Payment:
        """The processor took the charge. What it tells of the instrument is the truth (the method it charged,
        brand, last four), whatever the request said."""
        to = receipt.to
        payment = cls(payment_id)
        payment.record(
            PaymentReceived(
                payment_id=payment_id,
                firm_id=to.firm_id,
                bank_account_id=to.bank_account_id,
                link_id=to.link_id,
                bill_id=to.bill_id,
                source=to.source,
                amount=receipt.amount,
                currency=to.currency,
                method=method,
                payer=receipt.payer,
                reference=receipt.reference,
                received_at=now,
                card_brand=brand,
                last4=last4,
                authorization=receipt.authorization,
            )
        )
        return payment

    # Each reaction to the processor returns whether it changed anything: a repeated or late report does not.
    # A report that arrives before the one it follows (a retried delivery overtaking) is OutOfOrder, so the
    # processor delivers it again later.

    def succeed(self, *, fee: int, fee_id: str | None, fee_account: str, now: datetime) -> bool:
        """Processed; its processing fee is taken from the firm's fee account, never from this payment."""
        r = self.received
        if self.status != "received" or r is None:
            return False
        self.record(
            PaymentProcessed(
                payment_id=self.id,
                firm_id=r.firm_id,
                bank_account_id=r.bank_account_id,
                bill_id=r.bill_id,
                amount=r.amount,
                currency=r.currency,
                method=r.method,
                processed_at=now,
                fee=fee,
            )
        )
        self._charge_fee(fee_id or f"{self.id}:processing", "processing", fee, fee_account, now)
        return True

    def fail(self, reason: str, now: datetime) -> bool:
        if self.status != "received" or self.received is None:
            return False
        self.record(
            PaymentFailed(payment_id=self.id, firm_id=self.received.firm_id, reason=reason, failed_at=now)
        )
        return True

    def return_by_bank(self, reason: str, now: datetime) -> bool:
        """A processed eCheck taken back by the payer's bank."""
        r = self._processed_or_wait()
        if r is None:
            return False
        self.record(
            PaymentReturned(
                payment_id=self.id,
                firm_id=r.firm_id,
                bank_account_id=r.bank_account_id,
                amount=r.amount,
                currency=r.currency,
                reason=reason,
                returned_at=now,
            )
        )
        return True

    def dispute(self, report: DisputeReport, fee_account: str, now: datetime) -> bool:
        r = self._processed_or_wait()
        if r is None or report.dispute_id in self.disputes:
            return False
        self.record(
            PaymentDisputed(
                dispute_id=report.dispute_id,
                payment_id=self.id,
                firm_id=r.firm_id,
                bank_account_id=r.bank_account_id,
                amount=report.amount,
                currency=r.currency,
                reason=report.reason,
                evidence_due_by=report.evidence_due_by,
                disputed_at=now,
            )
        )
        self._charge_fee(
            report.fee_id or _dispute_fee_id(report.dispute_id), "dispute", report.fee, fee_account, now
        )
        return True

    def close_dispute(
        self,
        dispute_id: str,
        outcome: DisputeOutcome,
        fee_refund: tuple[str | None, int],
        fee_account: str,
        now: datetime,
    ) -> bool:
        """Won or lost; a won dispute gives its fee back: a FeeCharged of the fee's id, negative."""
        if dispute_id not in self.disputes:
            raise OutOfOrder("the dispute is not known yet")
        opened = self.disputes[dispute_id]
        if opened.closed or self.received is None:
            return False
        self.record(
            DisputeClosed(
                dispute_id=dispute_id,
                payment_id=self.id,
                firm_id=self.received.firm_id,
                outcome=outcome,
                amount=opened.amount,
                currency=self.received.currency,
                closed_at=now,
            )
        )
        fee_id, refunded = fee_refund
        if outcome == "won":
            self._charge_fee(fee_id or _dispute_fee_id(dispute_id), "dispute", -refunded, fee_account, now)
        return True

    @property
    def refundable(self) -> int:
        """What may still be given back: the amount less refunds not failed (pending ones count), disputes
        lost and what the bank returned. An open dispute is not subtracted (it is not lost yet)."""
        if self.received is None:
            return 0
        refunded = sum(r.amount for r in self.refunds.values() if self.refund_status(r.refund_id) != "failed")
        lost = sum(d.amount for d in self.disputes.values() if d.outcome == "lost")
        return self.received.amount - refunded - lost - self.returned_amount

    def refund_status(self, refund_id: str) -> RefundStatus:
        return self.refund_outcomes.get(refund_id, "pending")

    def request_refund(self, refund_id: str, ask: RefundAsk, now: datetime) -> RefundRequested:
        """Recorded before the processor is asked: two refunds of one payment race on this stream's version,
        so together they can never give back more than is refundable. Only a processed payment (a returned
        one has nothing left)."""
        r = self.received
        if r is None or self.status not in ("processed", "returned"):
            raise DomainError("payment_not_refundable", "Only a processed payment can be refunded.")
        if ask.amount <= 0:
            raise DomainError("invalid_amount", "The amount must be a positive whole number of cents.")
        if ask.amount > self.refundable:
            raise DomainError(
                "amount_exceeds_refundable",
                f"At most {self.refundable} (minor units) of this payment can still be refunded.",
            )
        requested = RefundRequested(
            refund_id=refund_id,
            payment_id=self.id,
            firm_id=r.firm_id,
            bank_account_id=r.bank_account_id,
            amount=ask.amount,
            currency=r.currency,
            reason=ask.reason,
            requested_by=ask.requested_by,
            requested_at=now,
        )
        self.record(requested)
        return requested

    def refund_succeeded(self, refund_id: str, now: datetime) -> bool:
        """Only a refund this service asked for, and once."""
        requested = self.refunds.get(refund_id)
        if requested is None or refund_id in self.refund_outcomes or self.received is None:
            return False
        self.record(
            RefundSucceeded(
                refund_id=refund_id,
                payment_id=self.id,
                firm_id=self.received.firm_id,
                bank_account_id=requested.bank_account_id,
                amount=requested.amount,
                currency=requested.currency,
                succeeded_at=now,
            )
        )
        return True

    def refund_failed(self, refund_id: str, reason: str, now: datetime) -> bool:
        if refund_id not in self.refunds or refund_id in self.refund_outcomes or self.received is None:
            return False
        self.record(
            RefundFailed(
                refund_id=refund_id,
                payment_id=self.id,
                firm_id=self.received.firm_id,
                reason=reason,
                failed_at=now,
            )
        )
        return True

    def _processed_or_wait(self) -> PaymentReceived | None:
        if self.status == "received":
            raise OutOfOrder("the payment is not processed yet")
        return self.received if self.status == "processed" else None

    def _charge_fee(self, fee_id: str, kind: FeeKind, amount: int, fee_account: str, now: datetime) -> None:
        if amount == 0 or self.received is None:
            return
        self.record(
            FeeCharged(
                fee_id=fee_id,
                firm_id=self.received.firm_id,
                payment_id=self.id,
                kind=kind,
                amount=amount,
                currency=self.received.currency,
                bank_account_id=fee_account,
                charged_at=now,
            )
        )

    def when_PaymentReceived(self, event: PaymentReceived) -> None:
        self.status, self.received = "received", event

    def when_PaymentProcessed(self, _: PaymentProcessed) -> None:
        self.status = "processed"

    def when_PaymentFailed(self, _: PaymentFailed) -> None:
        self.status = "failed"

    def when_PaymentReturned(self, event: PaymentReturned) -> None:
        self.status, self.returned_amount = "returned", event.amount

    def when_PaymentDisputed(self, event: PaymentDisputed) -> None:
        self.disputes[event.dispute_id] = OpenedDispute(event.amount)

    def when_DisputeClosed(self, event: DisputeClosed) -> None:
        self.disputes[event.dispute_id] = OpenedDispute(self.disputes[event.dispute_id].amount, event.outcome)

    def when_RefundRequested(self, event: RefundRequested) -> None:
        self.refunds[event.refund_id] = event

    def when_RefundSucceeded(self, event: RefundSucceeded) -> None:
        self.refund_outcomes[event.refund_id] = "succeeded"

    def when_RefundFailed(self, event: RefundFailed) -> None:
        self.refund_outcomes[event.refund_id] = "failed"


def _dispute_fee_id(dispute_id: str) -> str:
    """When the processor names no fee id, one derived from the dispute: its refund then cancels it."""
    return f"{dispute_id}:fee"
