from datetime import UTC, datetime

import pytest

from notifier.notices import LINK_BUTTON, BillOutcome, Context, PaymentFacts, compose, missing_context
from notifier.rendering import render
from paylinks_events import Payer, PaymentFailed, PaymentProcessed, PaymentReceived

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
PAYMENT = PaymentFacts("Dana Client", "card", 12500, "USD", "ba-1", None)
KNOWN = Context(payment=PAYMENT, bank_account_name="IOLTA Trust", firm_name="Hale & Partners LLP")


def link(firm_id: str, payment_id: str) -> str:
    return f"https://recon.example/payments/{payment_id}/link?grant=G-{firm_id}"


def received(name: str = "Dana Client", bill_id: str | None = None) -> PaymentReceived:
    return PaymentReceived(
        firm_id="f1",
        payment_id="p1",
        bank_account_id="ba-1",
        bill_id=bill_id,
        source="qr_code",
        amount=12500,
        method="card",
        payer=Payer(name=name, email="dana@client.example"),
        received_at=NOW,
        card_brand="Visa",
        last4="4242",
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


def test_received_subject_is_scannable() -> None:
    notice = compose(received(), KNOWN, link)
    assert notice.subject == "Payment received: $125.00 from Dana Client — IOLTA Trust"
    assert ("Received via", "QR code") in notice.details
    assert ("Method", "Card (Visa ending 4242)") in notice.details
    assert notice.action is None


def test_processed_unlinked_payment_gets_the_link_button() -> None:
    notice = compose(processed(), KNOWN, link)
    assert notice.subject.startswith("Payment processed — ready to link: $125.00 from Dana Client")
    assert notice.action is not None
    assert notice.action.label == LINK_BUTTON
    assert notice.action.url == link("f1", "p1")


def test_processed_bill_payment_names_the_bill_and_has_no_button() -> None:
    ctx = Context(
        PAYMENT, "IOLTA Trust", bill_known=True, bill_number="INV-7", outcome=BillOutcome(12500, 0, 0, None)
    )
    notice = compose(processed("b1"), ctx, link)
    assert notice.subject == "Payment processed: $125.00 from Dana Client applied to bill INV-7"
    assert "paid in full" in notice.summary
    assert notice.action is None


def test_an_unallocated_bill_payment_is_ready_to_link() -> None:
    ctx = Context(PAYMENT, "IOLTA Trust", True, "INV-7", BillOutcome(0, None, 12500, "bill_void"))
    notice = compose(processed("b1"), ctx, link)
    assert notice.action is not None
    assert "was not applied to bill INV-7 because the bill was void" in notice.summary


def test_failure_email_explains_the_return_code() -> None:
    failed = PaymentFailed(firm_id="f1", payment_id="p1", reason="R01", failed_at=NOW)
    notice = compose(failed, KNOWN, link)
    assert notice.subject == "Payment failed: $125.00 from Dana Client — insufficient funds (R01)"
    assert "not enough money" in notice.summary


def test_missing_names_are_reported_until_known() -> None:
    assert missing_context(received(), Context()) == ["bank account"]
    assert missing_context(received(), KNOWN) == []
    named = Context(PAYMENT, "IOLTA Trust", firm_name="Hale")
    assert missing_context(processed("b1"), named) == ["bill", "billing outcome"]
    partial = Context(PAYMENT, "IOLTA Trust", True, None, BillOutcome(10000, None, 0, None), firm_name="Hale")
    assert missing_context(processed("b1"), partial) == [
        "billing outcome"
    ]  # the overpayment part is still due


def test_without_names_the_email_falls_back_to_ids() -> None:
    notice = compose(processed("b1"), Context(), link)
    assert notice.subject == "Payment processed: $125.00 from the payer for bill b1"
    assert "bank account ba-1" in dict(notice.details)["Bank account"]


def test_hostile_payer_name_is_escaped_in_html_and_kept_in_text() -> None:
    hostile = '<script>alert("x")</script>'
    body = render(compose(received(name=hostile), KNOWN, link))
    assert "<script>" not in body.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body.html
    assert hostile in body.text


def test_both_parts_carry_the_button_link() -> None:
    body = render(compose(processed(), KNOWN, link))
    url = link("f1", "p1")
    assert f'href="{url}"' in body.html
    assert LINK_BUTTON in body.html
    assert url in body.text
    assert LINK_BUTTON in body.text


def test_every_staff_email_names_the_firm_first() -> None:
    assert compose(received(), KNOWN, link).details[0] == ("Firm", "Hale & Partners LLP")
    assert compose(processed(), Context(), link).details[0] == ("Firm", "firm f1")  # not known (yet)
