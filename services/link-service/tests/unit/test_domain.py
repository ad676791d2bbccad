"""The aggregates and the payment rules, without I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from link_service.domain import echeck_authorization
from link_service.domain.link import Link, bank_account_link_id, bill_link_id
from link_service.domain.pay_target import Bill, PayTarget
from link_service.domain.payment import Destination, DisputeReport, OutOfOrder, Payment, Receipt
from paylinks_events import (
    FeeCharged,
    LinkIssued,
    LinkPaused,
    LinkRevoked,
    Payer,
    PaymentFailed,
    PaymentProcessed,
    PaymentReturned,
    RefundRequested,
    RefundSucceeded,
    utcnow,
)
from paylinks_runtime.aggregate import DomainError

pytestmark = pytest.mark.unit
NOW = utcnow()


def bill_link() -> Link:
    link = Link(bill_link_id("bill-1", "acct-1"))
    link.issue(firm_id="f", kind="bill", bank_account_id="acct-1", bill_id="bill-1", now=NOW)
    return link


def test_a_link_is_issued_once() -> None:
    link = bill_link()
    link.issue(firm_id="f", kind="bill", bank_account_id="acct-1", bill_id="bill-1", now=NOW)
    assert [type(e) for e in link.pending] == [LinkIssued]


def test_link_ids_follow_what_they_pay_into() -> None:
    assert bank_account_link_id("a") == bank_account_link_id("a") != bank_account_link_id("b")
    assert bill_link_id("b", "a") != bill_link_id("b", "c")


def test_a_bill_link_is_revoked_once_and_an_account_link_never() -> None:
    link = bill_link()
    link.revoke("bill_voided", NOW)
    link.revoke("bill_paid", NOW)
    assert [type(e) for e in link.pending] == [LinkIssued, LinkRevoked]
    assert link.revoked_reason == "bill_voided"
    account_link = Link("x")
    account_link.issue(firm_id="f", kind="bank_account", bank_account_id="a", bill_id=None, now=NOW)
    with pytest.raises(DomainError):
        account_link.revoke("bill_voided", NOW)


def test_a_paused_bill_link_says_which_link_bill_and_account_and_for_how_long() -> None:
    link = bill_link()
    link.pause(declines=6, window=timedelta(minutes=10), now=NOW, until=NOW + timedelta(minutes=15))
    [paused] = link.pending[1:]
    assert isinstance(paused, LinkPaused)
    assert (paused.link_id, paused.firm_id, paused.bank_account_id, paused.bill_id) == (
        link.id,
        "f",
        "acct-1",
        "bill-1",
    )
    assert (paused.declines, paused.window_seconds, paused.paused_at) == (6, 600, NOW)
    assert paused.paused_until - paused.paused_at == timedelta(minutes=15)


def test_a_link_revoked_as_paid_reopens_and_is_revoked_again_but_a_voided_one_stays_dead() -> None:
    paid = bill_link()
    paid.revoke("bill_paid", NOW)
    paid.reopen()
    paid.revoke("bill_paid", NOW)
    assert [type(e) for e in paid.pending] == [LinkIssued, LinkRevoked, LinkRevoked]
    voided = bill_link()
    voided.revoke("bill_voided", NOW)
    voided.reopen()
    voided.revoke("bill_paid", NOW)
    assert [type(e) for e in voided.pending] == [LinkIssued, LinkRevoked]
    assert voided.revoked_reason == "bill_voided"


def received(method: str = "card", brand: str | None = "visa", last4: str = "4242") -> Payment:
    to = Destination("f", "l", "a", "bill-1", "USD", "bill_link")
    authorization = echeck_authorization.accepted("A", NOW) if method == "echeck" else None
    payer = Payer(name="A", email="a@example.com")
    receipt = Receipt(to, 500, method, payer, None, authorization)  # type: ignore[arg-type]
    return Payment.receive("p-1", receipt, method=method, brand=brand, last4=last4, now=NOW)  # type: ignore[arg-type]


def test_a_payment_keeps_what_the_processor_told_and_the_authorization() -> None:
    event = received().pending[0]
    assert (event.card_brand, event.last4, event.method) == ("visa", "4242", "card")  # type: ignore[attr-defined]
    assert event.authorization is None  # type: ignore[attr-defined]
    echeck = received("echeck", None, "6789").pending[0]
    assert (echeck.card_brand, echeck.last4, echeck.method) == (None, "6789", "echeck")  # type: ignore[attr-defined]
    assert echeck.authorization.text_version == echeck_authorization.VERSION  # type: ignore[attr-defined]


def succeed(payment: Payment, fee: int = 45) -> bool:
    return payment.succeed(fee=fee, fee_id="fee-1", fee_account="operating-1", now=NOW)


def test_a_payment_settles_once_and_its_fee_is_taken_from_the_fee_account() -> None:
    payment = received()
    assert succeed(payment)
    assert not payment.fail("R01", NOW)
    assert not succeed(payment)
    assert [type(e) for e in payment.pending[1:]] == [PaymentProcessed, FeeCharged]
    processed, fee = payment.pending[1:]
    assert (processed.bill_id, processed.amount, processed.fee) == ("bill-1", 500, 45)  # type: ignore[attr-defined]
    assert (fee.kind, fee.amount, fee.bank_account_id, fee.fee_id) == (  # type: ignore[attr-defined]
        "processing",
        45,
        "operating-1",
        "fee-1",
    )
    failing = received("echeck", None, "6789")
    assert failing.fail("R01", NOW)
    assert not succeed(failing)
    assert [type(e) for e in failing.pending[1:]] == [PaymentFailed]


def test_returns_and_disputes_wait_for_the_payment_to_be_processed() -> None:
    payment = received("echeck", None, "6789")
    with pytest.raises(OutOfOrder):
        payment.return_by_bank("R10", NOW)
    with pytest.raises(OutOfOrder):
        payment.dispute(DisputeReport("d-1", 500, "fraudulent", NOW, 1_500, "fee-d"), "op", NOW)
    succeed(payment)
    assert payment.return_by_bank("R10", NOW)
    assert not payment.return_by_bank("R10", NOW)
    assert type(payment.pending[-1]) is PaymentReturned


def test_a_dispute_opens_once_charges_its_fee_and_a_won_one_gives_it_back() -> None:
    payment = received()
    succeed(payment, fee=0)
    with pytest.raises(OutOfOrder):  # closed before it was opened: applied once it has been
        payment.close_dispute("d-1", "won", ("fee-d", 1_500), "op", NOW)
    report = DisputeReport("d-1", 500, "fraudulent", NOW, 1_500, "fee-d")
    assert payment.dispute(report, "op", NOW)
    assert not payment.dispute(report, "op", NOW)
    assert payment.close_dispute("d-1", "won", ("fee-d", 1_500), "op", NOW)
    assert not payment.close_dispute("d-1", "lost", ("fee-d", 0), "op", NOW)
    kinds = [(type(e).__name__, getattr(e, "amount", None)) for e in payment.pending[2:]]
    assert kinds == [
        ("PaymentDisputed", 500),
        ("FeeCharged", 1_500),
        ("DisputeClosed", 500),
        ("FeeCharged", -1_500),
    ]


def test_only_a_refund_asked_for_is_recorded() -> None:
    payment = received()
    succeed(payment)
    assert not payment.refund_succeeded("r-unknown", NOW)
    payment.record(
        RefundRequested(
            refund_id="r-1",
            payment_id="p-1",
            firm_id="f",
            bank_account_id="a",
            amount=200,
            reason="overpaid",
            requested_by="u",
            requested_at=NOW,
        )
    )
    assert payment.refund_succeeded("r-1", NOW)
    assert not payment.refund_failed("r-1", "late", NOW)
    assert type(payment.pending[-1]) is RefundSucceeded


def target(bill: Bill | None = None, revoked: str | None = None, pending: int = 0) -> PayTarget:
    kind = "bill" if bill else "bank_account"
    return PayTarget("l", "f", kind, "a", "Trust", "USD", bill=bill, revoked_reason=revoked, pending=pending)


def bill(state: str = "open", balance: int = 1_000) -> Bill:
    return Bill("b", "f", 5_000, balance, "USD", state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("t", "status"),
    [
        (target(), "open"),
        (target(bill()), "open"),
        (target(bill("void")), "void"),
        (target(bill(), revoked="bill_voided"), "void"),
        (target(bill("paid", 0)), "paid"),
        (target(bill(), revoked="bill_paid"), "paid"),
    ],
)
def test_the_status_of_a_link(t: PayTarget, status: str) -> None:
    assert t.status == status


@pytest.mark.parametrize(
    ("t", "amount", "code"),
    [
        (target(bill("void")), 100, "link_revoked"),
        (target(bill("paid", 0)), 100, "bill_paid"),
        (target(), 0, "invalid_amount"),
        (target(), -1, "invalid_amount"),
        (target(), 10_001, "amount_above_limit"),
        (target(bill(balance=1_000)), 1_001, "amount_above_balance"),
        (target(bill(balance=1_000), pending=600), 401, "amount_above_balance"),
    ],
)
def test_payments_that_are_refused(t: PayTarget, amount: int, code: str) -> None:
    with pytest.raises(DomainError) as refused:
        t.check_payable(amount, limit=10_000)
    assert refused.value.code == code


def test_payments_that_pass_and_their_source() -> None:
    target().check_payable(10_000, limit=10_000)
    target(bill(balance=1_000)).check_payable(1_000, limit=10_000)
    target(bill(balance=1_000), pending=600).check_payable(400, limit=10_000)
    assert target(bill(balance=1_000), pending=600).amount_due == 400
    assert target(bill(balance=1_000), pending=1_200).amount_due == 0
    assert target().destination(via_qr=True).source == "qr_code"
    assert target().destination(via_qr=False).source == "bank_account_link"
    assert target(bill()).destination(via_qr=True).source == "bill_link"
