"""billing's command handlers on the in-memory unit of work: what they save, publish and project, and
what they refuse, without Kafka or Postgres (the integration tests run the same handlers on Postgres)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import pytest

from billing_service import commands
from billing_service.commands import BillNotFound
from billing_service.directory import UnknownParty
from billing_service.domain import BillTerms, Reversal, ReversalTaken
from billing_service.payment_reversals import BilledPayment, DisputeOutcome, RecordedReversal
from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillPaymentReversed,
    BillVoided,
    DisputeClosed,
    Event,
    PaymentProcessed,
    PaymentUnallocated,
    utcnow,
)
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"


@dataclass
class FakeBillingTables:
    """billing's tables as sets and lists: the parties a firm has, the projected events, unmatched ids."""

    parties: set[tuple[str, str]] = field(default_factory=lambda: {(FIRM, "m-1"), (FIRM, "c-1")})
    projected: list[Event] = field(default_factory=list)
    unmatched: set[str] = field(default_factory=set)
    billed: dict[str, tuple[str, BilledPayment]] = field(default_factory=dict)
    reversals: dict[tuple[str, str], RecordedReversal] = field(default_factory=dict)

    async def check_parties(self, firm_id: str, matter_id: str, contact_id: str) -> None:
        if (firm_id, matter_id) not in self.parties:
            raise UnknownParty("unknown_matter", matter_id)
        if (firm_id, contact_id) not in self.parties:
            raise UnknownParty("unknown_contact", contact_id)

    async def project(self, events: Iterable[Event]) -> None:
        self.projected.extend(events)

    async def remember_unmatched(self, payment: PaymentProcessed) -> bool:
        fresh = payment.payment_id not in self.unmatched
        self.unmatched.add(payment.payment_id)
        return fresh

    async def remember_bill(self, firm_id: str, payment_id: str, bill_id: str, currency: str) -> None:
        self.billed.setdefault(payment_id, (firm_id, BilledPayment(payment_id, bill_id, currency)))

    async def billed_payment(self, firm_id: str, payment_id: str) -> BilledPayment | None:
        found = self.billed.get(payment_id)
        return found[1] if found and found[0] == firm_id else None

    async def find_reversal(self, payment_id: str, key: str) -> RecordedReversal | None:
        return self.reversals.get((payment_id, key))

    async def unallocated_taken(self, payment_id: str) -> int:
        return sum(
            r.from_unallocated
            for (p, _), r in self.reversals.items()
            if p == payment_id and r.closed_outcome != "won"
        )

    async def record_reversal(
        self,
        key: str,
        reversal: Reversal,
        taken: ReversalTaken,
        now: datetime,
        closed_outcome: DisputeOutcome | None,
    ) -> None:
        assert (reversal.payment_id, key) not in self.reversals, "a reversal is recorded once"
        record = RecordedReversal(taken.from_unallocated, taken.from_bill, closed_outcome)
        self.reversals[(reversal.payment_id, key)] = record

    async def close_dispute(self, payment_id: str, key: str, outcome: DisputeOutcome) -> None:
        self.reversals[(payment_id, key)] = replace(self.reversals[(payment_id, key)], closed_outcome=outcome)


def writer() -> FakeWriter[FakeBillingTables]:
    return FakeWriter(FakeUnitOfWork(FakeBillingTables()))


def terms(amount: int = 10_000, firm_id: str = FIRM, matter_id: str = "m-1") -> BillTerms:
    return BillTerms(firm_id=firm_id, matter_id=matter_id, contact_id="c-1", amount=amount, currency="USD")


def payment(
    bill_id: str | None, amount: int, payment_id: str = "p-1", firm_id: str = FIRM
) -> PaymentProcessed:
    return PaymentProcessed(
        payment_id=payment_id,
        firm_id=firm_id,
        bank_account_id="ba-1",
        bill_id=bill_id,
        amount=amount,
        currency="USD",
        method="card",
        processed_at=utcnow(),
    )


async def test_issue_bill_saves_and_projects_bill_issued() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms())
    [issued] = w.uow.events(bill_id)
    assert isinstance(issued, BillIssued)
    assert (issued.firm_id, issued.amount) == (FIRM, 10_000)
    assert w.uow.published() == [issued]
    assert w.uow.tables.projected == [issued]


@pytest.mark.parametrize(("matter_id", "firm_id"), [("m-unknown", FIRM), ("m-1", "another-firm")])
async def test_issue_bill_refuses_a_matter_the_firm_does_not_have(matter_id: str, firm_id: str) -> None:
    w = writer()
    with pytest.raises(UnknownParty):
        await commands.issue_bill(w, terms(matter_id=matter_id, firm_id=firm_id))
    assert w.uow.streams == {}
    assert w.uow.outbox == []


async def test_void_bill_voids_and_projects() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms())
    await commands.void_bill(w, FIRM, bill_id)
    assert [type(e) for e in w.uow.events(bill_id)] == [BillIssued, BillVoided]
    assert isinstance(w.uow.tables.projected[-1], BillVoided)


async def test_void_bill_hides_another_firms_bill_and_unknown_ones() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms())
    for firm_id, target in (("another-firm", bill_id), (FIRM, "no-such-bill")):
        with pytest.raises(BillNotFound):
            await commands.void_bill(w, firm_id, target)
    assert len(w.uow.events(bill_id)) == 1


async def test_voiding_a_paid_bill_is_refused() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=500))
    await commands.apply_payment(w, payment(bill_id, 500))
    with pytest.raises(DomainError):
        await commands.void_bill(w, FIRM, bill_id)


async def test_apply_payment_pays_the_bill_down_once_per_payment_id() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=1_000))
    await commands.apply_payment(w, payment(bill_id, 400, "p-1"))
    await commands.apply_payment(w, payment(bill_id, 400, "p-1"))  # a redelivered copy
    await commands.apply_payment(w, payment(bill_id, 600, "p-2"))
    assert [type(e) for e in w.uow.events(bill_id)] == [
        BillIssued,
        BillPaymentApplied,
        BillPaymentApplied,
        BillPaid,
    ]


async def test_a_payment_above_the_balance_leaves_the_rest_unallocated() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=1_000))
    await commands.apply_payment(w, payment(bill_id, 1_500))
    [unallocated] = [e for e in w.uow.published() if isinstance(e, PaymentUnallocated)]
    assert (unallocated.amount, unallocated.reason) == (500, "overpayment")


@pytest.mark.parametrize("payer_firm", [FIRM, "another-firm"])
async def test_a_payment_for_no_bill_of_the_firm_is_unallocated_whole_once(payer_firm: str) -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms())
    target = "no-such-bill" if payer_firm == FIRM else bill_id
    for _ in range(2):  # the second is a re-published copy
        await commands.apply_payment(w, payment(target, 700, firm_id=payer_firm))
    [unallocated] = [e for e in w.uow.published() if isinstance(e, PaymentUnallocated)]
    assert (unallocated.bill_id, unallocated.amount, unallocated.firm_id) == (target, 700, payer_firm)
    assert len(w.uow.events(bill_id)) == 1  # the firm's own bill is untouched


def reversed_events(w: FakeWriter[FakeBillingTables], bill_id: str) -> list[tuple[int, int, str]]:
    return [
        (e.amount, e.balance, e.reason) for e in w.uow.events(bill_id) if isinstance(e, BillPaymentReversed)
    ]


async def test_each_reversal_is_taken_once_per_refund_dispute_and_return() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=1_000))
    await commands.apply_payment(w, payment(bill_id, 1_000))
    for _ in range(2):  # re-published copies
        await commands.reverse_payment(w.uow, FIRM, "refund:r1", Reversal("p-1", "refund", 100))
        await commands.reverse_payment(w.uow, FIRM, commands.RETURN_KEY, Reversal("p-1", "return", 1_000))
    assert reversed_events(w, bill_id) == [(100, 100, "refund"), (900, 1_000, "return")]


async def test_reversals_of_another_firms_or_an_unapplied_payment_do_nothing() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=1_000))
    await commands.apply_payment(w, payment(bill_id, 1_000))
    await commands.reverse_payment(w.uow, "another-firm", "refund:r1", Reversal("p-1", "refund", 100))
    await commands.reverse_payment(w.uow, FIRM, "refund:r2", Reversal("p-unknown", "refund", 100))
    assert reversed_events(w, bill_id) == []


def closed(outcome: str, dispute_id: str = "d1", amount: int = 1_000) -> DisputeClosed:
    return DisputeClosed(
        dispute_id=dispute_id,
        payment_id="p-1",
        firm_id=FIRM,
        outcome=outcome,  # type: ignore[arg-type]
        amount=amount,
        closed_at=utcnow(),
    )


async def test_a_won_dispute_applies_again_once() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=1_000))
    await commands.apply_payment(w, payment(bill_id, 1_000))
    await commands.reverse_payment(w.uow, FIRM, commands.dispute_key("d1"), Reversal("p-1", "dispute", 1_000))
    await commands.close_dispute(w.uow, closed("won"))
    await commands.close_dispute(w.uow, closed("won"))  # a re-published copy
    types = [type(e) for e in w.uow.events(bill_id)][-4:]
    assert types == [BillPaid, BillPaymentReversed, BillPaymentApplied, BillPaid]


async def test_a_lost_dispute_closed_before_it_was_seen_open_takes_the_money_once() -> None:
    w = writer()
    bill_id = await commands.issue_bill(w, terms(amount=1_000))
    await commands.apply_payment(w, payment(bill_id, 1_000))
    await commands.close_dispute(w.uow, closed("lost", amount=400))
    await commands.reverse_payment(w.uow, FIRM, commands.dispute_key("d1"), Reversal("p-1", "dispute", 400))
    assert reversed_events(w, bill_id) == [(400, 400, "dispute")]
