"""A Bill given money back: refunds, disputes and returns of the payments applied to it (pure, no I/O)."""

from __future__ import annotations

import pytest

from billing_service.domain import Bill, BillTerms, Reversal, ReversalTaken
from paylinks_events import (
    BillPaid,
    BillPaymentApplied,
    BillPaymentReversed,
    Event,
    PaymentProcessed,
    PaymentUnallocated,
    utcnow,
)

pytestmark = pytest.mark.unit

NOW = utcnow()
TERMS = BillTerms(firm_id="firm-1", matter_id="m-1", contact_id="c-1", amount=10_000, currency="USD")


def bill_with(*payments: tuple[str, int]) -> Bill:
    """A bill loaded from its stream after the given payments were applied: nothing pending."""
    bill = Bill.issue("bill-1", TERMS, NOW)
    for payment_id, amount in payments:
        bill.apply_payment(processed(payment_id, amount), NOW)
    return Bill.replay(bill.id, bill.pending)


def processed(payment_id: str, amount: int) -> PaymentProcessed:
    return PaymentProcessed(
        payment_id=payment_id,
        firm_id="firm-1",
        bank_account_id="ba-1",
        bill_id="bill-1",
        amount=amount,
        method="card",
        processed_at=NOW,
    )


def refund(payment_id: str, amount: int) -> Reversal:
    return Reversal(payment_id, "refund", amount)


def test_a_refund_of_a_paid_bill_reopens_it_with_the_new_balance() -> None:
    bill = bill_with(("p1", 10_000))
    taken = bill.reverse(refund("p1", 2_500), 0, NOW)
    [reversed_] = bill.pending
    assert isinstance(reversed_, BillPaymentReversed)
    assert (reversed_.amount, reversed_.balance, reversed_.reason) == (2_500, 2_500, "refund")
    assert taken == ReversalTaken(from_unallocated=0, from_bill=2_500)
    assert (bill.state, bill.balance) == ("partially_paid", 2_500)


def test_a_whole_return_leaves_the_bill_unpaid() -> None:
    bill = bill_with(("p1", 10_000))
    bill.reverse(Reversal("p1", "return", 10_000), 0, NOW)
    assert (bill.state, bill.balance) == ("unpaid", 10_000)
    assert bill.applied_by("p1") == 0


def test_the_unallocated_part_goes_first() -> None:
    bill = bill_with(("p1", 12_500))  # 10,000 applied, 2,500 unallocated
    first = bill.reverse(refund("p1", 2_000), 0, NOW)
    assert first == ReversalTaken(from_unallocated=2_000, from_bill=0)
    assert bill.pending == []  # the bill never had that money: nothing changes on it
    second = bill.reverse(refund("p1", 1_000), first.from_unallocated, NOW)
    assert second == ReversalTaken(from_unallocated=500, from_bill=500)
    [reversed_] = bill.pending
    assert isinstance(reversed_, BillPaymentReversed)
    assert (reversed_.amount, reversed_.balance) == (500, 500)


def test_never_more_than_the_payment_has_on_the_bill() -> None:
    bill = bill_with(("p1", 4_000), ("p2", 6_000))
    taken = bill.reverse(refund("p1", 9_000), 0, NOW)
    assert taken == ReversalTaken(from_unallocated=0, from_bill=4_000)
    assert (bill.balance, bill.applied_by("p2")) == (4_000, 6_000)
    assert bill.reverse(refund("p1", 1), 0, NOW) == ReversalTaken(0, 0)
    assert len(bill.pending) == 1


def test_a_payment_not_on_this_bill_changes_nothing() -> None:
    bill = bill_with(("p1", 4_000))
    assert bill.reverse(refund("other", 1_000), 0, NOW) == ReversalTaken(0, 0)
    assert (bill.pending, bill.balance) == ([], 6_000)


def test_reversals_are_rebuilt_from_the_stream() -> None:
    bill = bill_with(("p1", 10_000))
    bill.reverse(Reversal("p1", "dispute", 3_000), 0, NOW)
    history = [*_applied(10_000), *bill.pending]
    reloaded = Bill.replay(bill.id, history)
    assert (reloaded.balance, reloaded.applied_by("p1"), reloaded.state) == (3_000, 7_000, "partially_paid")


def _applied(amount: int) -> list[Event]:
    """The stream of a bill issued and paid by p1: BillIssued, BillPaymentApplied, ..."""
    bill = Bill.issue("bill-1", TERMS, NOW)
    bill.apply_payment(processed("p1", amount), NOW)
    return list(bill.pending)


def test_a_won_dispute_applies_again_and_pays_the_bill() -> None:
    bill = bill_with(("p1", 10_000))
    taken = bill.reverse(Reversal("p1", "dispute", 10_000), 0, NOW)
    bill.reapply("p1", taken.from_bill, "USD", NOW)
    _, applied, paid = bill.pending
    assert isinstance(applied, BillPaymentApplied)
    assert (applied.amount, applied.balance) == (10_000, 0)
    assert isinstance(paid, BillPaid)
    assert (bill.state, bill.applied_by("p1")) == ("paid", 10_000)


def test_a_won_dispute_after_the_bill_was_paid_again_is_an_overpayment() -> None:
    bill = bill_with(("p1", 10_000))
    taken = bill.reverse(Reversal("p1", "dispute", 10_000), 0, NOW)
    bill.apply_payment(processed("p2", 10_000), NOW)  # the client paid again through the reopened link
    bill.pending.clear()
    bill.reapply("p1", taken.from_bill, "USD", NOW)
    [unallocated] = bill.pending
    assert isinstance(unallocated, PaymentUnallocated)
    assert (unallocated.amount, unallocated.reason, unallocated.payment_id) == (10_000, "overpayment", "p1")
    assert (bill.balance, bill.unallocated_of("p1")) == (0, 10_000)


def test_a_paid_bill_with_everything_given_back_can_be_voided() -> None:
    bill = bill_with(("p1", 10_000))
    bill.reverse(refund("p1", 10_000), 0, NOW)
    bill.void(NOW)
    assert bill.state == "void"
    bill.reapply("p1", 10_000, "USD", NOW)  # a dispute won later: the void bill cannot take it
    assert bill.pending[-1].type_name() == "PaymentUnallocated"
    assert bill.balance == 10_000
