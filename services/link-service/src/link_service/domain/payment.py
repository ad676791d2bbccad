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
    closed: bool = False


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
        self.refunds_done: set[str] = set()

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

    def refund_succeeded(self, refund_id: str, now: datetime) -> bool:
        """Only a refund this service asked for, and once."""
        requested = self.refunds.get(refund_id)
        if requested is None or refund_id in self.refunds_done or self.received is None:
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
        if refund_id not in self.refunds or refund_id in self.refunds_done or self.received is None:
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

    def when_PaymentReturned(self, _: PaymentReturned) -> None:
        self.status = "returned"

    def when_PaymentDisputed(self, event: PaymentDisputed) -> None:
        self.disputes[event.dispute_id] = OpenedDispute(event.amount)

    def when_DisputeClosed(self, event: DisputeClosed) -> None:
        self.disputes[event.dispute_id] = OpenedDispute(self.disputes[event.dispute_id].amount, closed=True)

    def when_RefundRequested(self, event: RefundRequested) -> None:
        self.refunds[event.refund_id] = event

    def when_RefundSucceeded(self, event: RefundSucceeded) -> None:
        self.refunds_done.add(event.refund_id)

    def when_RefundFailed(self, event: RefundFailed) -> None:
        self.refunds_done.add(event.refund_id)


def _dispute_fee_id(dispute_id: str) -> str:
    """When the processor names no fee id, one derived from the dispute: its refund then cancels it."""
    return f"{dispute_id}:fee"
