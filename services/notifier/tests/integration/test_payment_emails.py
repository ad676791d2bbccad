"""The payment emails end to end: events on the real broker in, MIME messages at a real SMTP server out."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from paylinks_events import BankAccountRegistered
from paylinks_runtime.auth import decode_payment_grant
from paylinks_runtime.testing import GRANT_KEYS, eventually

LINK_BUTTON = "Link to a client or matter"


async def test_account_link_payment_sends_received_then_ready_to_link(firm, client) -> None:
    account = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    payment = firm.received(account, card_brand="Visa", last4="4242")
    await firm.publish(payment, firm.processed(payment))

    mail = await firm.wait_for_mail(2)
    first = firm.one(mail, "Payment received:")
    assert firm.subject(first) == "Payment received: $125.00 from Dana Client — IOLTA Trust"
    assert "Card (Visa ending 4242)" in firm.text(first)
    assert "Bank account payment link" in firm.text(first)
    second = firm.one(mail, "Payment processed — ready to link:")
    assert LINK_BUTTON in firm.html(second)
    _assert_link_for(firm.html(second), payment.payment_id, firm.firm_id)
    assert _link_url(firm.html(second)) in firm.text(second)

    metrics = (await client.get("/metrics")).text
    assert 'notifier_emails_sent_total{type="PaymentProcessed"}' in metrics


def _link_url(html: str) -> str:
    [url] = re.findall(r'href="([^"]+)"', html)
    return url.replace("&amp;", "&")


def _assert_link_for(html: str, payment_id: str, firm_id: str) -> None:
    url = urlparse(_link_url(html))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"http://127.0.0.1:8003/payments/{payment_id}/link"
    [grant] = parse_qs(url.query)["grant"]
    decoded = decode_payment_grant(GRANT_KEYS, grant, payment_id)
    assert decoded.firm_id == firm_id
    assert timedelta(hours=71) < decoded.expires_at - datetime.now(UTC) <= timedelta(hours=72)


async def test_bill_payment_email_names_the_bill_instead_of_a_button(firm) -> None:
    account = await firm.bank_account("Operating")
    await firm.set_recipients()
    bill = firm.bill("INV-2026-0042")
    payment = firm.received(account, bill_id=bill.bill_id, source="bill_link")
    await firm.publish(bill, payment, firm.processed(payment), firm.applied(payment, balance=0))

    mail = await firm.wait_for_mail(2)
    assert "Bill payment link (bill INV-2026-0042)" in firm.text(firm.one(mail, "Payment received:"))
    processed = firm.one(mail, "Payment processed:")
    assert (
        firm.subject(processed) == "Payment processed: $125.00 from Dana Client applied to bill INV-2026-0042"
    )
    assert "paid in full" in firm.text(processed)
    assert LINK_BUTTON not in firm.html(processed)
    assert "grant=" not in firm.html(processed)


async def test_returned_echeck_sends_a_failure_email_in_plain_words(firm) -> None:
    account = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    payment = firm.received(account, method="echeck")
    await firm.publish(payment, firm.failed(payment, "R01"))

    mail = await firm.wait_for_mail(2)
    failed = firm.one(mail, "Payment failed:")
    assert firm.subject(failed) == "Payment failed: $125.00 from Dana Client — insufficient funds (R01)"
    assert "there was not enough money in the account" in firm.text(failed)
    assert "eCheck (ACH)" in firm.text(failed)


async def test_hostile_payer_name_is_escaped_in_the_html_part(firm) -> None:
    account = await firm.bank_account()
    await firm.set_recipients()
    hostile = "<script>alert('pwned')</script>"
    await firm.publish(firm.received(account, payer=hostile))

    [message] = await firm.wait_for_mail(1)
    html = firm.html(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert hostile in firm.text(message)


async def test_an_email_waits_for_the_bank_account_name_that_comes_later(firm) -> None:
    await firm.set_recipients()
    account = str(uuid.uuid4())
    payment = firm.received(account)
    await firm.publish(payment, firm.processed(payment))

    async def both_held() -> bool:
        rows = await firm.emails(payment.payment_id)
        return len(rows) == 2 and all(r["status"] == "pending" and r["subject"] is None for r in rows)

    await eventually(both_held)
    await firm.publish(
        BankAccountRegistered(
            firm_id=firm.firm_id, bank_account_id=account, name="Late Account", kind="operating"
        )
    )
    mail = await firm.wait_for_mail(2)
    assert all(firm.subject(m).endswith("— Late Account") for m in mail)
