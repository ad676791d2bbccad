"""A client's payment: received at intake, then processed or failed when the processor reports back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from paylinks_events import Payer, PaymentFailed, PaymentProcessed, PaymentReceived
from paylinks_runtime.aggregate import Aggregate

from .instruments import Card, Instrument, method_of

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


class Payment(Aggregate):
    stream_type = "payment"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: PaymentStatus = "new"
        self.received: PaymentReceived | None = None

    @classmethod
    def receive(
        cls,
        payment_id: str,
        *,
        to: Destination,
        amount: int,
        instrument: Instrument,
        payer: Payer,
        reference: str | None,
        now: datetime,
    ) -> Payment:
        payment = cls(payment_id)
        payment.record(
            PaymentReceived(
                payment_id=payment_id,
                firm_id=to.firm_id,
                bank_account_id=to.bank_account_id,
                link_id=to.link_id,
                bill_id=to.bill_id,
                source=to.source,
                amount=amount,
                currency=to.currency,
                method=method_of(instrument),
                payer=payer,
                reference=reference,
                received_at=now,
                card_brand=instrument.brand if isinstance(instrument, Card) else None,
                last4=instrument.last4,
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
