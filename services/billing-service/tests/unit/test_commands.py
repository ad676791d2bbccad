"""billing's command handlers on the in-memory unit of work: what they save, publish and project, and
what they refuse, without Kafka or Postgres (the integration tests run the same handlers on Postgres)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from billing_service import commands
from billing_service.commands import BillNotFound
from billing_service.directory import UnknownParty
from billing_service.domain import BillTerms
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
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"


@dataclass
class FakeBillingTables:
    """billing's tables as sets and lists: the parties a firm has, the projected events, unmatched ids."""

    parties: set[tuple[str, str]] = field(default_factory=lambda: {(FIRM, "m-1"), (FIRM, "c-1")})
    projected: list[Event] = field(default_factory=list)
    unmatched: set[str] = field(default_factory=set)

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
