"""The Bill aggregate's rules, without Kafka or Postgres."""

from __future__ import annotations

from datetime import date

import pytest

from billing_service.domain import Bill, BillTerms
from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillVoided,
    Event,
    PaymentProcessed,
    PaymentUnallocated,
    utcnow,
)
from paylinks_runtime.aggregate import DomainError

pytestmark = pytest.mark.unit

NOW = utcnow()
TERMS = BillTerms(
    firm_id="firm-1",
    matter_id="m-1",
    contact_id="c-1",
    amount=10_000,
    currency="USD",
    bill_number="INV-7",
    due_date=date(2026, 12, 31),
)


def issued_bill(amount: int = 10_000) -> Bill:
    bill = Bill.issue("bill-1", BillTerms(**{**TERMS.__dict__, "amount": amount}), NOW)
    return Bill.replay(bill.id, bill.pending)  # as loaded from its stream: nothing pending


def payment(payment_id: str, amount: int, currency: str = "USD") -> PaymentProcessed:
    return PaymentProcessed(
        payment_id=payment_id,
        firm_id="firm-1",
        bank_account_id="ba-1",
        bill_id="bill-1",
        amount=amount,
        currency=currency,
        method="card",
        processed_at=NOW,
    )


def types(events: list[Event]) -> list[str]:
    return [e.type_name() for e in events]


def test_issue_records_bill_issued_with_its_terms() -> None:
    bill = Bill.issue("bill-1", TERMS, NOW)
    [event] = bill.pending
    assert isinstance(event, BillIssued)
    assert (event.amount, event.bill_number, event.due_date) == (10_000, "INV-7", "2026-12-31")
    assert (bill.state, bill.balance) == ("unpaid", 10_000)


def test_a_partial_payment_leaves_it_partially_paid() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 4_000), NOW)
    [applied] = bill.pending
    assert isinstance(applied, BillPaymentApplied)
    assert (applied.amount, applied.balance) == (4_000, 6_000)
    assert bill.state == "partially_paid"


def test_the_payment_that_reaches_zero_pays_the_bill() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 4_000), NOW)
    bill.apply_payment(payment("p2", 6_000), NOW)
    assert types(bill.pending) == ["BillPaymentApplied", "BillPaymentApplied", "BillPaid"]
    assert (bill.state, bill.balance) == ("paid", 0)


def test_the_part_above_the_balance_is_unallocated_as_overpayment() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 12_500), NOW)
    applied, paid, unallocated = bill.pending
    assert isinstance(applied, BillPaymentApplied)
    assert applied.amount == 10_000
    assert isinstance(paid, BillPaid)
    assert isinstance(unallocated, PaymentUnallocated)
    assert (unallocated.amount, unallocated.reason, unallocated.payment_id) == (2_500, "overpayment", "p1")


def test_a_payment_on_a_paid_bill_is_unallocated_whole() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 10_000), NOW)
    bill.apply_payment(payment("p2", 300), NOW)
    assert isinstance(bill.pending[-1], PaymentUnallocated)
    assert (bill.pending[-1].amount, bill.pending[-1].reason) == (300, "overpayment")
    assert bill.balance == 0


def test_a_payment_on_a_void_bill_is_unallocated_whole() -> None:
    bill = issued_bill()
    bill.void(NOW)
    bill.apply_payment(payment("p1", 4_000), NOW)
    voided, unallocated = bill.pending
    assert isinstance(voided, BillVoided)
    assert isinstance(unallocated, PaymentUnallocated)
    assert (unallocated.amount, unallocated.reason) == (4_000, "bill_void")
    assert (bill.state, bill.balance) == ("void", 10_000)


def test_a_payment_in_another_currency_is_unallocated_whole() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 4_000, currency="EUR"), NOW)
    [unallocated] = bill.pending
    assert isinstance(unallocated, PaymentUnallocated)
    assert (unallocated.amount, unallocated.currency) == (4_000, "EUR")
    assert bill.balance == 10_000


@pytest.mark.parametrize("first_amount", [4_000, 12_500])
def test_the_same_payment_id_applies_once(first_amount: int) -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", first_amount), NOW)
    applied = list(bill.pending)
    reloaded = Bill.replay(bill.id, [*Bill.issue("bill-1", TERMS, NOW).pending, *applied])
    reloaded.apply_payment(payment("p1", first_amount), NOW)
    bill.apply_payment(payment("p1", first_amount), NOW)
    assert reloaded.pending == []
    assert bill.pending == applied


def test_a_void_bill_stays_void_without_a_second_event() -> None:
    bill = issued_bill()
    bill.void(NOW)
    bill.void(NOW)
    assert types(bill.pending) == ["BillVoided"]


def test_a_bill_with_applied_payments_cannot_be_voided() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 1), NOW)
    with pytest.raises(DomainError) as refused:
        bill.void(NOW)
    assert refused.value.code == "bill_has_payments"


def test_a_paid_bill_cannot_be_voided() -> None:
    bill = issued_bill()
    bill.apply_payment(payment("p1", 10_000), NOW)
    with pytest.raises(DomainError):
        bill.void(NOW)
    assert bill.state == "paid"
