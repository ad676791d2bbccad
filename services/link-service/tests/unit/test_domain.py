"""The aggregates and the payment rules, without I/O."""

from __future__ import annotations

import pytest

from link_service.domain.instruments import BankDetails, Card
from link_service.domain.link import Link, bank_account_link_id, bill_link_id
from link_service.domain.pay_target import Bill, PayTarget
from link_service.domain.payment import Destination, Payment
from paylinks_events import LinkIssued, LinkRevoked, Payer, PaymentFailed, PaymentProcessed, utcnow
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.testing import CARD_EXPIRY_YEAR

pytestmark = pytest.mark.unit
NOW = utcnow()


def bill_link() -> Link:
    link = Link(bill_link_id("bill-1", "acct-1"))
    link.issue(firm_id="f", kind="bill", bank_account_id="acct-1", bill_id="bill-1", url="u", now=NOW)
    return link


def test_a_link_is_issued_once() -> None:
    link = bill_link()
    link.issue(firm_id="f", kind="bill", bank_account_id="acct-1", bill_id="bill-1", url="other", now=NOW)
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
    account_link.issue(firm_id="f", kind="bank_account", bank_account_id="a", bill_id=None, url="u", now=NOW)
    with pytest.raises(DomainError):
        account_link.revoke("bill_voided", NOW)


def received(instrument: Card | BankDetails) -> Payment:
    to = Destination("f", "l", "a", "bill-1", "USD", "bill_link")
    return Payment.receive(
        "p-1",
        to=to,
        amount=500,
        instrument=instrument,
        payer=Payer(name="A", email="a@example.com"),
        reference=None,
        now=NOW,
    )


def test_a_payment_keeps_only_brand_and_last_four() -> None:
    event = received(Card("4242424242424242", 12, CARD_EXPIRY_YEAR, "123")).pending[0]
    assert (event.card_brand, event.last4, event.method) == ("visa", "4242", "card")  # type: ignore[attr-defined]
    assert "4242424242424242" not in event.model_dump_json()
    echeck = received(BankDetails("110000000", "000123456789")).pending[0]
    assert (echeck.card_brand, echeck.last4, echeck.method) == (None, "6789", "echeck")  # type: ignore[attr-defined]


def test_a_payment_settles_once() -> None:
    payment = received(Card("4242424242424242", 12, CARD_EXPIRY_YEAR, "123"))
    payment.succeed(NOW)
    payment.fail("R01", NOW)
    payment.succeed(NOW)
    assert [type(e) for e in payment.pending[1:]] == [PaymentProcessed]
    processed = payment.pending[1]
    assert (processed.bill_id, processed.amount) == ("bill-1", 500)  # type: ignore[attr-defined]
    failing = received(BankDetails("110000000", "000111111113"))
    failing.fail("R01", NOW)
    failing.succeed(NOW)
    assert [type(e) for e in failing.pending[1:]] == [PaymentFailed]


def target(bill: Bill | None = None, revoked: str | None = None) -> PayTarget:
    return PayTarget("l", "f", "bill" if bill else "bank_account", "a", "Trust", "USD", bill, revoked)


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
    ],
)
def test_payments_that_are_refused(t: PayTarget, amount: int, code: str) -> None:
    with pytest.raises(DomainError) as refused:
        t.check_payable(amount, limit=10_000)
    assert refused.value.code == code


def test_payments_that_pass_and_their_source() -> None:
    target().check_payable(10_000, limit=10_000)
    target(bill(balance=1_000)).check_payable(1_000, limit=10_000)
    assert target().destination(via_qr=True).source == "qr_code"
    assert target().destination(via_qr=False).source == "bank_account_link"
    assert target(bill()).destination(via_qr=True).source == "bill_link"
