"""The Bill aggregate: issued, paid down by processed payments, voided. Pure: no I/O, no clock.

Every payment that reaches a bill is settled exactly once per payment_id, whatever the redelivery:
the part that fits the balance is applied, the rest (or all of it, for a void bill) is unallocated
so that reconciliation shows it to staff. Nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillVoided,
    PaymentProcessed,
    PaymentUnallocated,
)
from paylinks_runtime.aggregate import Aggregate, DomainError

BillState = Literal["unpaid", "partially_paid", "paid", "void"]
BILL_STATES: tuple[BillState, ...] = ("unpaid", "partially_paid", "paid", "void")
UnallocatedReason = Literal["bill_void", "overpayment"]


@dataclass(frozen=True)
class BillTerms:
    """What staff ask for when issuing a bill."""

    firm_id: str
    matter_id: str
    contact_id: str
    amount: int
    currency: str
    bill_number: str | None = None
    due_date: date | None = None


@dataclass(frozen=True)
class AppliedPayment:
    payment_id: str
    amount: int
    applied_at: datetime


class Bill(Aggregate):
    stream_type = "bill"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.firm_id = ""
        self.currency = ""
        self.amount = 0
        self.balance = 0
        self.voided = False
        self.payments: list[AppliedPayment] = []
        self.settled_payment_ids: set[str] = set()

    # --- commands ----------------------------------------------------------------------------------------

    @classmethod
    def issue(cls, bill_id: str, terms: BillTerms, at: datetime) -> Bill:
        bill = cls(bill_id)
        bill.record(
            BillIssued(
                bill_id=bill_id,
                firm_id=terms.firm_id,
                matter_id=terms.matter_id,
                contact_id=terms.contact_id,
                amount=terms.amount,
                currency=terms.currency,
                issued_at=at,
                bill_number=terms.bill_number,
                due_date=terms.due_date.isoformat() if terms.due_date else None,
            )
        )
        return bill

    def void(self, at: datetime) -> None:
        """Void an unpaid bill. Voiding a void bill again changes nothing."""
        if self.voided:
            return
        if self.payments:
            raise DomainError("bill_has_payments", "a bill with applied payments cannot be voided")
        self.record(BillVoided(bill_id=self.id, firm_id=self.firm_id, voided_at=at))

    def settle(self, payment: PaymentProcessed, at: datetime) -> None:
        """Apply what fits of a processed payment; unallocate the rest. Once per payment_id."""
        if payment.payment_id in self.settled_payment_ids:
            return
        if self.voided:
            self._unallocate(payment, payment.amount, "bill_void", at)
            return
        applicable = min(payment.amount, self.balance) if payment.currency == self.currency else 0
        if applicable:
            self._apply_part(payment.payment_id, applicable, at)
        if payment.amount > applicable:
            self._unallocate(payment, payment.amount - applicable, "overpayment", at)

    def _apply_part(self, payment_id: str, amount: int, at: datetime) -> None:
        balance = self.balance - amount
        self.record(
            BillPaymentApplied(
                bill_id=self.id,
                firm_id=self.firm_id,
                payment_id=payment_id,
                amount=amount,
                balance=balance,
                applied_at=at,
            )
        )
        if balance == 0:
            self.record(BillPaid(bill_id=self.id, firm_id=self.firm_id, paid_at=at))

    def _unallocate(
        self, payment: PaymentProcessed, amount: int, reason: UnallocatedReason, at: datetime
    ) -> None:
        self.record(
            PaymentUnallocated(
                bill_id=self.id,
                firm_id=self.firm_id,
                payment_id=payment.payment_id,
                amount=amount,
                currency=payment.currency,
                reason=reason,
                unallocated_at=at,
            )
        )

    # --- state -------------------------------------------------------------------------------------------

    @property
    def state(self) -> BillState:
        if self.voided:
            return "void"
        if self.balance == 0:
            return "paid"
        return "partially_paid" if self.payments else "unpaid"

    def when_BillIssued(self, event: BillIssued) -> None:
        self.firm_id, self.currency = event.firm_id, event.currency
        self.amount = self.balance = event.amount

    def when_BillVoided(self, _: BillVoided) -> None:
        self.voided = True

    def when_BillPaymentApplied(self, event: BillPaymentApplied) -> None:
        self.balance = event.balance
        self.payments.append(AppliedPayment(event.payment_id, event.amount, event.applied_at))
        self.settled_payment_ids.add(event.payment_id)

    def when_PaymentUnallocated(self, event: PaymentUnallocated) -> None:
        self.settled_payment_ids.add(event.payment_id)
