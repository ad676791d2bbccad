"""Refunds on the in-memory unit of work and the fake processor: what is recorded on the payment's stream,
what the processor is asked (once, with the refund's key), and what is refused."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from link_service.commands.refunds import RefundCommands
from link_service.domain.payment import Destination, DisputeReport, Payment, Receipt, RefundAsk
from link_service.processor import RefundRequest
from link_service.processor.fake import FakeProcessor
from link_service.store.refunds import RefundSend, SendState
from paylinks_events import Payer, RefundFailed, RefundRequested, utcnow
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"
ADMIN = "user-admin"


@dataclass
class FakeRefundTables:
    sends: dict[str, RefundSend] = field(default_factory=dict)

    async def record(self, request: RefundRequest) -> None:
        self.sends[request.refund_id] = RefundSend(request, "sending")

    async def find(self, refund_id: str, *, lock: bool = False) -> RefundSend | None:
        return self.sends.get(refund_id)

    async def mark(self, refund_id: str, state: SendState, refusal_code: str | None = None) -> None:
        self.sends[refund_id] = replace(self.sends[refund_id], state=state, refusal_code=refusal_code)

    async def stranded(self, older_than_seconds: float) -> list[RefundSend]:
        return [send for send in self.sends.values() if send.state == "sending"]


@dataclass
class Desk:
    refunds: RefundCommands
    processor: FakeProcessor
    uow: FakeUnitOfWork[FakeRefundTables]

    async def payment(self, amount: int = 10_000, *, processed: bool = True) -> str:
        payment_id = f"pay-{len(self.uow.streams)}"
        to = Destination(FIRM, "link-1", "trust-1", None, "USD", "bank_account_link")
        receipt = Receipt(to, amount, "card", Payer(name="Ada", email="ada@example.com"), None, None)
        payment = Payment.receive(
            payment_id, receipt, method="card", brand="visa", last4="4242", now=utcnow()
        )
        if processed:
            payment.succeed(fee=320, fee_id=None, fee_account="operating-1", now=utcnow())
        await self.uow.save(payment)
        return payment_id

    def events(self, payment_id: str, kind: type) -> list[object]:
        return [e for e in self.uow.events(payment_id) if isinstance(e, kind)]


def desk() -> Desk:
    processor = FakeProcessor()
    uow = FakeUnitOfWork(FakeRefundTables())
    return Desk(RefundCommands(FakeWriter(uow), processor), processor, uow)


def ask(amount: int, reason: str = "retainer unearned") -> RefundAsk:
    return RefundAsk(amount=amount, reason=reason, requested_by=ADMIN)


async def refusal(awaitable: object) -> str:
    with pytest.raises(DomainError) as refused:
        await awaitable  # type: ignore[misc]
    return refused.value.code


async def test_a_refund_is_recorded_then_sent_once_with_its_own_key() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    refund = await d.refunds.refund(FIRM, payment_id, ask(4_000))
    assert (refund.amount, refund.status, refund.requested_by) == (4_000, "pending", ADMIN)
    [requested] = d.events(payment_id, RefundRequested)
    assert (requested.refund_id, requested.amount, requested.bank_account_id) == (
        refund.refund_id,
        4_000,
        "trust-1",
    )  # type: ignore[attr-defined]
    [sent] = d.processor.refunded(payment_id)
    assert sent == RefundRequest(refund.refund_id, payment_id, 4_000)
    assert f"refund:{refund.refund_id}" in d.processor.refunds
    assert d.uow.tables.sends[refund.refund_id].state == "sent"


async def test_partial_refunds_never_exceed_the_amount_and_the_fee_is_not_given_back() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    await d.refunds.refund(FIRM, payment_id, ask(6_000))
    assert await refusal(d.refunds.refund(FIRM, payment_id, ask(4_001))) == "amount_exceeds_refundable"
    await d.refunds.refund(FIRM, payment_id, ask(4_000))  # the fee (320) was never part of it
    assert await refusal(d.refunds.refund(FIRM, payment_id, ask(1))) == "amount_exceeds_refundable"
    assert [r.amount for r in d.processor.refunded(payment_id)] == [6_000, 4_000]


async def test_a_payment_not_processed_or_failed_is_not_refundable() -> None:
    d = desk()
    received = await d.payment(processed=False)
    assert await refusal(d.refunds.refund(FIRM, received, ask(100))) == "payment_not_refundable"
    payment = await d.uow.load(Payment, received)
    payment.fail("R01", utcnow())
    await d.uow.save(payment)
    assert await refusal(d.refunds.refund(FIRM, received, ask(100))) == "payment_not_refundable"
    assert d.processor.refunds == {}
    assert d.events(received, RefundRequested) == []


async def test_another_firms_or_an_unknown_payment_is_not_found() -> None:
    d = desk()
    payment_id = await d.payment()
    assert await refusal(d.refunds.refund("firm-2", payment_id, ask(100))) == "not_found"
    assert await refusal(d.refunds.refund(FIRM, "no-such-payment", ask(100))) == "not_found"
    assert await refusal(d.refunds.refunds_of("firm-2", payment_id)) == "not_found"


async def test_the_same_key_and_body_answer_the_first_refund_and_another_body_is_refused() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    first = await d.refunds.refund(FIRM, payment_id, ask(3_000), "key-1")
    again = await d.refunds.refund(FIRM, payment_id, ask(3_000), "key-1")
    assert again == first
    assert await refusal(d.refunds.refund(FIRM, payment_id, ask(3_001), "key-1")) == "idempotency_key_reused"
    assert (
        await refusal(d.refunds.refund(FIRM, payment_id, ask(3_000, "other"), "key-1"))
        == "idempotency_key_reused"
    )
    other = await d.refunds.refund(FIRM, payment_id, ask(3_000), "key-2")
    assert other.refund_id != first.refund_id
    assert len(d.events(payment_id, RefundRequested)) == 2
    assert len(d.processor.refunded(payment_id)) == 2


async def test_a_refund_the_processor_refuses_fails_at_once_and_frees_its_amount() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    d.processor.refusing = "amount_exceeds_refundable"  # e.g. a dispute open at the processor
    assert await refusal(d.refunds.refund(FIRM, payment_id, ask(10_000), "k")) == "amount_exceeds_refundable"
    [failed] = d.events(payment_id, RefundFailed)
    assert failed.reason == "amount_exceeds_refundable"  # type: ignore[attr-defined]
    [listed] = await d.refunds.refunds_of(FIRM, payment_id)
    assert listed.status == "failed"
    assert await refusal(d.refunds.refund(FIRM, payment_id, ask(10_000), "k")) == "amount_exceeds_refundable"
    d.processor.refusing = None
    await d.refunds.refund(FIRM, payment_id, ask(10_000))  # a failed refund counts no more
    assert len(d.events(payment_id, RefundFailed)) == 1


async def test_a_refund_stranded_without_an_answer_is_sent_again_with_the_same_key() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    d.processor.answer_lost = True
    refund = await d.refunds.refund(FIRM, payment_id, ask(2_500))
    assert refund.status == "pending"
    assert d.uow.tables.sends[refund.refund_id].state == "sending"
    d.processor.answer_lost = False
    assert await d.refunds.recover_stranded(0) == 1
    assert d.uow.tables.sends[refund.refund_id].state == "sent"
    assert len(d.processor.refunded(payment_id)) == 1  # one refund at the processor, asked twice
    assert await d.refunds.recover_stranded(0) == 0


async def test_a_refund_outcome_applies_only_to_a_requested_refund_and_once() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    refund = await d.refunds.refund(FIRM, payment_id, ask(2_500))
    payment = await d.uow.load(Payment, payment_id)
    assert not payment.refund_succeeded("never-asked", utcnow())
    assert payment.refund_succeeded(refund.refund_id, utcnow())
    assert not payment.refund_succeeded(refund.refund_id, utcnow())
    assert not payment.refund_failed(refund.refund_id, "late", utcnow())
    await d.uow.save(payment)
    [listed] = await d.refunds.refunds_of(FIRM, payment_id)
    assert (listed.status, listed.reason, listed.requested_by) == ("succeeded", "retainer unearned", ADMIN)


async def test_what_was_lost_in_a_dispute_or_returned_is_not_refundable() -> None:
    d = desk()
    payment_id = await d.payment(10_000)
    payment = await d.uow.load(Payment, payment_id)
    report = DisputeReport("dp-1", 7_000, "fraudulent", utcnow(), 1_500, None)
    payment.dispute(report, "operating-1", utcnow())
    assert payment.refundable == 10_000  # open: not lost yet
    payment.close_dispute("dp-1", "lost", (None, 0), "operating-1", utcnow())
    await d.uow.save(payment)
    assert await refusal(d.refunds.refund(FIRM, payment_id, ask(3_001))) == "amount_exceeds_refundable"
    await d.refunds.refund(FIRM, payment_id, ask(3_000))
    echeck = await d.payment(5_000)
    returned = await d.uow.load(Payment, echeck)
    returned.return_by_bank("R10", utcnow())
    await d.uow.save(returned)
    assert await refusal(d.refunds.refund(FIRM, echeck, ask(1))) == "amount_exceeds_refundable"
