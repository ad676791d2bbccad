"""A client's payment: received at intake, then processed or failed when the processor reports back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from paylinks_events import DebitAuthorization, Payer, PaymentFailed, PaymentProcessed, PaymentReceived
from paylinks_events.models import PaymentMethod
from paylinks_runtime.aggregate import Aggregate

PaymentSource = Literal["bank_account_link", "bill_link", "qr_code"]
PaymentStatus = Literal["new", "received", "processed", "failed"]


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

    @classmethod
    def receive(
        cls, payment_id: str, receipt: Receipt, *, brand: str | None, last4: str | None, now: datetime
    ) -> Payment:
        """The processor took the charge: brand and last four digits are all it tells of the instrument."""
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
                method=receipt.method,
                payer=receipt.payer,
                reference=receipt.reference,
                received_at=now,
                card_brand=brand,
                last4=last4,
                authorization=receipt.authorization,
            )
        )
        return payment

    def succeed(self, now: datetime) -> None:
        """The processor settled it. A late or repeated report after the outcome is known changes nothing."""
        if self.status == "received" and self.received is not None:
            r = self.received
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
                )
            )

    def fail(self, reason: str, now: datetime) -> None:
        if self.status == "received" and self.received is not None:
            self.record(
                PaymentFailed(payment_id=self.id, firm_id=self.received.firm_id, reason=reason, failed_at=now)
            )

    def when_PaymentReceived(self, event: PaymentReceived) -> None:
        self.status, self.received = "received", event

    def when_PaymentProcessed(self, _: PaymentProcessed) -> None:
        self.status = "processed"

    def when_PaymentFailed(self, _: PaymentFailed) -> None:
        self.status = "failed"
