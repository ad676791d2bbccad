"""The words of the emails about money after the payment: return codes, dispute reasons, dates, exponents,
and each email's subject and facts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.emails import compose_email, still_missing, subject_of
from notifier.money_back_notices import compose_money_back
from notifier.notices import BillOutcome, Context, PaymentFacts, RefundFacts
from notifier.payer_notices import compose_for_payer, missing_for_payer, payer_address
from notifier.rendering import render
from notifier.wording import dispute_reason, format_day, format_money, return_sentence
from paylinks_events import (
    DisputeClosed,
    PaymentDisputed,
    PaymentProcessed,
    PaymentReturned,
    RefundFailed,
    RefundSucceeded,
    encode_data,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
FIRM = "Hale & Partners LLP"
PAYMENT = PaymentFacts(
    "Dana Client", "card", 12500, "USD", "ba-1", None, "dana@client.example", "Visa", "4242", "MAT-42"
)
KNOWN = Context(payment=PAYMENT, bank_account_name="IOLTA Trust", firm_name=FIRM)


def link(firm_id: str, payment_id: str) -> str:
    return f"https://recon.example/payments/{payment_id}/link"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("R01", "the client's bank says the account has insufficient funds (R01)"),
        ("R02", "the client's bank says the account is closed (R02)"),
        ("R10", "the client's bank says the account holder says they did not authorize this debit (R10)"),
        ("R16", "the client's bank says the account is frozen (R16)"),
        ("R99\nBcc: x@evil.example", "the client's bank returned the payment with code R99 Bcc: x@evil.exa…"),
    ],
)
def test_return_codes_read_in_plain_words(code: str, expected: str) -> None:
    assert return_sentence(code) == expected


def test_every_common_return_code_has_words() -> None:
    for code in [f"R{n:02d}" for n in range(1, 11)] + ["R16", "R20", "R29"]:
        assert "returned the payment with code" not in return_sentence(code), code


def test_dispute_reasons_and_dates_in_words() -> None:
    assert dispute_reason("fraudulent") == "the cardholder says they did not make this payment"
    assert "“bank_x”" in dispute_reason("bank_x")
    assert format_day(datetime(2026, 12, 16, 23, 59, tzinfo=UTC)) == "Wednesday, December 16, 2026"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12345, "KWD", "12.345 KWD"),
        (5000, "JPY", "5,000 JPY"),
        (5000, "XPF", "5,000 XPF"),
        (12345, "CHF", "123.45 CHF"),
    ],
)
def test_amounts_follow_the_currency_exponent(amount: int, currency: str, expected: str) -> None:
    assert format_money(amount, currency) == expected


def returned(code: str = "R01") -> PaymentReturned:
    return PaymentReturned(
        firm_id="f1", payment_id="p1", bank_account_id="ba-1", amount=12500, reason=code, returned_at=NOW
    )


def test_payment_returned_says_why_in_plain_words_and_names_the_firm() -> None:
    notice = compose_money_back(returned(), KNOWN)
    assert notice.subject == "Payment returned: $125.00 from Dana Client — insufficient funds (R01)"
    assert "the client's bank says the account has insufficient funds (R01)" in notice.summary
    assert notice.details[0] == ("Firm", FIRM)


def test_refund_issued_and_failed() -> None:
    issued = RefundSucceeded(
        firm_id="f1", refund_id="r1", payment_id="p1", bank_account_id="ba-1", amount=2500, succeeded_at=NOW
    )
    ctx = Context(
        payment=PAYMENT,
        bank_account_name="IOLTA Trust",
        firm_name=FIRM,
        refund=RefundFacts(2500, "USD", "overpaid"),
    )
    notice = compose_money_back(issued, ctx)
    assert notice.subject == "Refund issued: $25.00 to Dana Client — IOLTA Trust"
    assert ("Reason", "overpaid") in notice.details
    assert ("Payment", "$125.00") in notice.details
    failed = RefundFailed(
        firm_id="f1", refund_id="r1", payment_id="p1", reason="insufficient_balance", failed_at=NOW
    )
    assert (
        compose_money_back(failed, ctx).subject
        == "Refund failed: $25.00 to Dana Client — insufficient_balance"
    )
    assert still_missing(failed, KNOWN, "staff") == ["refund"]  # its amount comes from RefundRequested
    assert still_missing(failed, ctx, "staff") == []


def test_payment_disputed_gives_amount_reason_and_evidence_due_date() -> None:
    disputed = PaymentDisputed(
        firm_id="f1",
        dispute_id="d1",
        payment_id="p1",
        bank_account_id="ba-1",
        amount=12500,
        reason="fraudulent",
        evidence_due_by=datetime(2026, 12, 16, 12, tzinfo=UTC),
        disputed_at=NOW,
    )
    notice = compose_money_back(disputed, KNOWN)
    assert (
        notice.subject
        == "Payment disputed: $125.00 from Dana Client — evidence due Wednesday, December 16, 2026"
    )
    assert "the cardholder says they did not make this payment" in notice.summary
    assert ("Evidence due", "Wednesday, December 16, 2026") in notice.details


@pytest.mark.parametrize(("outcome", "headline"), [("won", "Dispute won"), ("lost", "Dispute lost")])
def test_dispute_closed(outcome: str, headline: str) -> None:
    event = DisputeClosed(
        firm_id="f1",
        dispute_id="d1",
        payment_id="p1",
        outcome=outcome,
        amount=12500,
        closed_at=NOW,  # type: ignore[arg-type]
    )
    notice = compose_money_back(event, KNOWN)
    assert (notice.headline, notice.subject) == (
        headline,
        f"{headline}: $125.00 from Dana Client — IOLTA Trust",
    )


def processed(bill_id: str | None = None) -> PaymentProcessed:
    return PaymentProcessed(
        firm_id="f1",
        payment_id="p1",
        bank_account_id="ba-1",
        bill_id=bill_id,
        amount=12500,
        method="card",
        processed_at=NOW,
    )


def test_the_payers_receipt_names_the_firm_method_reference_and_balance() -> None:
    ctx = Context(PAYMENT, "IOLTA Trust", True, "INV-7", BillOutcome(12500, 2500, 0, None), firm_name=FIRM)
    notice = compose_for_payer(processed("b1"), ctx)
    assert notice.subject == f"Receipt: $125.00 paid to {FIRM}"
    assert ("Method", "Card (Visa ending 4242)") in notice.details
    assert ("Reference", "MAT-42") in notice.details
    assert ("Balance remaining", "$25.00") in notice.details
    text = render(notice).text
    assert "IOLTA Trust" not in text  # the firm's own accounts are not the payer's business
    assert "4242424242424242" not in text


def test_the_receipt_waits_for_the_firm_and_billings_outcome() -> None:
    assert missing_for_payer(processed("b1"), Context(PAYMENT)) == ["firm", "bill", "billing outcome"]
    assert missing_for_payer(processed(), Context(PAYMENT, firm_name=FIRM)) == []


def test_the_payers_refund_notice() -> None:
    refund = RefundSucceeded(
        firm_id="f1", refund_id="r1", payment_id="p1", bank_account_id="ba-1", amount=2500, succeeded_at=NOW
    )
    notice = compose_for_payer(refund, KNOWN)
    assert notice.subject == f"Refund from {FIRM}: $25.00"
    assert "your card ending 4242" in notice.summary


@pytest.mark.parametrize(
    ("typed", "address"),
    [("dana@client.example", "dana@client.example"), ("", None), ("not an email", None), ("a b@c.d", None)],
)
def test_only_a_plausible_payer_address_gets_email(typed: str, address: str | None) -> None:
    assert payer_address(PaymentFacts("D", "card", 1, "USD", "ba", None, typed)) == address


def test_a_stored_row_is_composed_by_who_it_is_for() -> None:
    import json

    refund = RefundSucceeded(
        firm_id="f1", refund_id="r1", payment_id="p1", bank_account_id="ba-1", amount=2500, succeeded_at=NOW
    )
    subject = subject_of("RefundSucceeded", json.loads(encode_data(refund)), 1)
    assert compose_email(subject, KNOWN, link, "payer").subject.startswith("Refund from")
    assert compose_email(subject, KNOWN, link, "staff").subject.startswith("Refund issued")
