"""The Bill aggregate: issued, paid down by processed payments, voided, and given money back when a
payment is reversed (refund, dispute, return). Pure: no I/O, no clock.

Every payment that reaches a bill is applied exactly once per payment_id, whatever the redelivery:
the part that fits the balance is applied, the rest (or all of it, for a void bill) is unallocated
so that reconciliation shows it to staff. Nothing is dropped.

A reversal takes the payment's unallocated part first (money the bill never had), then gives the rest
back to the balance (BillPaymentReversed), never more than that payment still has applied. A won dispute
applies again what its dispute took off the bill; what no longer fits the balance is unallocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillPaymentReversed,
    BillVoided,
    PaymentProcessed,
    PaymentUnallocated,
)
from paylinks_runtime.aggregate import Aggregate, DomainError

BillState = Literal["unpaid", "partially_paid", "paid", "void"]
BILL_STATES: tuple[BillState, ...] = ("unpaid", "partially_paid", "paid", "void")
UnallocatedReason = Literal["bill_void", "overpayment"]
ReversalReason = Literal["refund", "dispute", "return"]


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
class Reversal:
    """Money taken back from a payment: a refund succeeded, a dispute opened, or the bank returned it."""

    payment_id: str
    reason: ReversalReason
    amount: int


@dataclass(frozen=True)
class ReversalTaken:
    """Where a reversal's money came from: the payment's unallocated part, then the bill's balance."""

    from_unallocated: int
    from_bill: int


class Bill(Aggregate):
    stream_type = "bill"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.firm_id = ""
        self.currency = ""
        self.amount = 0
        self.balance = 0
        self.voided = False
        self.applied_payment_ids: set[str] = set()
        self._applied: dict[str, int] = {}  # per payment: what it has on the bill now
        self._unallocated: dict[str, int] = {}  # per payment: all it ever had unallocated

    # --- commands ----------------------------------------------------------------------------------------

    @classmethod
    def issue(cls, bill_id: str, terms: BillTerms, now: datetime) -> Bill:
        bill = cls(bill_id)
        bill.record(
            BillIssued(
                bill_id=bill_id,
                firm_id=terms.firm_id,
                matter_id=terms.matter_id,
                contact_id=terms.contact_id,
                amount=terms.amount,
                currency=terms.currency,
                issued_at=now,
                bill_number=terms.bill_number,
                due_date=terms.due_date.isoformat() if terms.due_date else None,
            )
        )
        return bill

    def void(self, now: datetime) -> None:
        """Void an unpaid bill. Voiding a void bill again changes nothing."""
        if self.voided:
            return
        if self.balance < self.amount:
            raise DomainError("bill_has_payments", "a bill with applied payments cannot be voided")
        self.record(BillVoided(bill_id=self.id, firm_id=self.firm_id, voided_at=now))

    def apply_payment(self, payment: PaymentProcessed, now: datetime) -> None:
        """Apply what fits of a processed payment; unallocate the rest. Once per payment_id."""
        if payment.payment_id in self.applied_payment_ids:
            return
        self._allocate(payment.payment_id, payment.amount, payment.currency, now)

    def reverse(self, reversal: Reversal, unallocated_taken: int, now: datetime) -> ReversalTaken:
        """Take a reversal off this payment: its unallocated part first, then the bill's share.

        `unallocated_taken` is what earlier reversals of the payment already took from its unallocated
        part (that part never touched the bill, so no bill event records it). The caller applies each
        reversal once (per refund, dispute, return).
        """
        free = max(0, self.unallocated_of(reversal.payment_id) - unallocated_taken)
        from_unallocated = min(reversal.amount, free)
        from_bill = min(reversal.amount - from_unallocated, self.applied_by(reversal.payment_id))
        if from_bill:
            self.record(
                BillPaymentReversed(
                    bill_id=self.id,
                    firm_id=self.firm_id,
                    payment_id=reversal.payment_id,
                    amount=from_bill,
                    balance=self.balance + from_bill,
                    reason=reversal.reason,
                    reversed_at=now,
                )
            )
        return ReversalTaken(from_unallocated=from_unallocated, from_bill=from_bill)

    def reapply(self, payment_id: str, amount: int, currency: str, now: datetime) -> None:
        """A won dispute: apply again what the dispute took off the bill; above the balance, unallocated."""
        if amount > 0:
            self._allocate(payment_id, amount, currency, now)

    def applied_by(self, payment_id: str) -> int:
        return self._applied.get(payment_id, 0)

    def unallocated_of(self, payment_id: str) -> int:
        return self._unallocated.get(payment_id, 0)

    def _allocate(self, payment_id: str, amount: int, currency: str, now: datetime) -> None:
        if self.voided:
            self._unallocate(payment_id, amount, currency, "bill_void", now)
            return
        applicable = min(amount, self.balance) if currency == self.currency else 0
        if applicable:
            self._apply_part(payment_id, applicable, now)
        if amount > applicable:
            self._unallocate(payment_id, amount - applicable, currency, "overpayment", now)

    def _apply_part(self, payment_id: str, amount: int, now: datetime) -> None:
        balance = self.balance - amount
        self.record(
            BillPaymentApplied(
                bill_id=self.id,
                firm_id=self.firm_id,
                payment_id=payment_id,
                amount=amount,
                balance=balance,
                applied_at=now,
            )
        )
        if balance == 0:
            self.record(BillPaid(bill_id=self.id, firm_id=self.firm_id, paid_at=now))

    def _unallocate(
        self, payment_id: str, amount: int, currency: str, reason: UnallocatedReason, now: datetime
    ) -> None:
        self.record(
            PaymentUnallocated(
                bill_id=self.id,
                firm_id=self.firm_id,
                payment_id=payment_id,
                amount=amount,
                currency=currency,
                reason=reason,
                unallocated_at=now,
            )
        )

    # --- state -------------------------------------------------------------------------------------------

    @property
    def state(self) -> BillState:
        if self.voided:
            return "void"
        if self.balance == 0:
            return "paid"
        return "unpaid" if self.balance == self.amount else "partially_paid"

    def when_BillIssued(self, event: BillIssued) -> None:
        self.firm_id, self.currency = event.firm_id, event.currency
        self.amount = self.balance = event.amount

    def when_BillVoided(self, _: BillVoided) -> None:
        self.voided = True

    def when_BillPaymentApplied(self, event: BillPaymentApplied) -> None:
        self.balance = event.balance
        self._applied[event.payment_id] = self.applied_by(event.payment_id) + event.amount
        self.applied_payment_ids.add(event.payment_id)

    def when_BillPaymentReversed(self, event: BillPaymentReversed) -> None:
        self.balance = event.balance
        self._applied[event.payment_id] = self.applied_by(event.payment_id) - event.amount

    def when_PaymentUnallocated(self, event: PaymentUnallocated) -> None:
        self._unallocated[event.payment_id] = self.unallocated_of(event.payment_id) + event.amount
        self.applied_payment_ids.add(event.payment_id)
