"""Properties of a Bill under any sequence of payments, refunds, disputes (won, lost) and returns: money is
never created or lost per payment, the balance stays within the bill, and the stream replays to the same
state. The per-payment bookkeeping the service keeps in `payment_reversals` is modelled here."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_service.domain import Bill, BillTerms, Reversal, ReversalTaken
from paylinks_events import Event, PaymentProcessed, utcnow

pytestmark = pytest.mark.unit

NOW = utcnow()
AMOUNT = 10_000


@dataclass
class Ledger:
    """What the service records beside the stream: each payment's reversals, once per key."""

    amounts: dict[str, int] = field(default_factory=dict)
    taken: dict[tuple[str, str], ReversalTaken] = field(default_factory=dict)
    won: set[tuple[str, str]] = field(default_factory=set)

    def unallocated_taken(self, payment_id: str) -> int:
        return sum(
            t.from_unallocated
            for (p, key), t in self.taken.items()
            if p == payment_id and (p, key) not in self.won
        )

    def reversed_and_held(self, payment_id: str) -> int:
        return sum(
            t.from_unallocated + t.from_bill
            for (p, key), t in self.taken.items()
            if p == payment_id and (p, key) not in self.won
        )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 15_000)),
        st.tuples(st.just("refund"), st.integers(0, 5), st.integers(1, 15_000)),
        st.tuples(st.just("dispute"), st.integers(0, 5), st.integers(1, 15_000)),
        st.tuples(st.just("won"), st.integers(0, 5)),
        st.tuples(st.just("return"), st.integers(0, 5)),
    ),
    max_size=25,
)


def apply(bill: Bill, ledger: Ledger, op: tuple) -> None:  # type: ignore[type-arg]
    kind, *args = op
    payments = list(ledger.amounts)
    if kind == "pay":
        payment_id = f"p{len(payments)}"
        ledger.amounts[payment_id] = args[0]
        bill.apply_payment(_processed(payment_id, args[0]), NOW)
        return
    if not payments:
        return
    payment_id = payments[args[0] % len(payments)]
    if kind == "won":
        disputes = [
            k
            for (p, k) in ledger.taken
            if p == payment_id and k.startswith("dispute") and (p, k) not in ledger.won
        ]
        if disputes:
            ledger.won.add((payment_id, disputes[0]))
            bill.reapply(payment_id, ledger.taken[(payment_id, disputes[0])].from_bill, "USD", NOW)
        return
    key = "return" if kind == "return" else f"{kind}:{len(ledger.taken)}"
    if (payment_id, key) in ledger.taken:
        return  # once per key
    amount = ledger.amounts[payment_id] if kind == "return" else args[1]
    reason = "refund" if kind == "refund" else kind
    reversal = Reversal(payment_id, reason, amount)  # type: ignore[arg-type]
    ledger.taken[(payment_id, key)] = bill.reverse(reversal, ledger.unallocated_taken(payment_id), NOW)


def _processed(payment_id: str, amount: int) -> PaymentProcessed:
    return PaymentProcessed(
        payment_id=payment_id,
        firm_id="f",
        bank_account_id="ba",
        bill_id="b",
        amount=amount,
        method="card",
        processed_at=NOW,
    )


@settings(max_examples=300, deadline=None)
@given(operations)
def test_money_is_conserved_per_payment_and_the_stream_replays(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    bill = Bill.issue("b", BillTerms("f", "m", "c", AMOUNT, "USD"), NOW)
    ledger = Ledger()
    recorded: list[Event] = list(bill.pending)
    bill.pending.clear()
    for op in ops:
        apply(bill, ledger, op)
        recorded.extend(bill.pending)
        bill.pending.clear()
        assert 0 <= bill.balance <= AMOUNT
        assert AMOUNT - bill.balance == sum(bill.applied_by(p) for p in ledger.amounts)
        for payment_id, amount in ledger.amounts.items():
            free = bill.unallocated_of(payment_id) - ledger.unallocated_taken(payment_id)
            assert bill.applied_by(payment_id) >= 0
            assert free >= 0
            assert bill.applied_by(payment_id) + free + ledger.reversed_and_held(payment_id) == amount
    replayed = Bill.replay("b", recorded)
    assert (replayed.balance, replayed.state) == (bill.balance, bill.state)
    assert {p: replayed.applied_by(p) for p in ledger.amounts} == {
        p: bill.applied_by(p) for p in ledger.amounts
    }
