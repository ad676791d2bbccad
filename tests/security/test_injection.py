"""Injection: SQL-ish strings in every filter and text field, HTML/script in names shown on the staff page,
the pay page, the QR code and in emails. Stored and returned as the exact text given; escaped wherever it
is shown as HTML; never a header of an email; never a wider query."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import pytest
from aiokafka import AIOKafkaProducer
from markupsafe import escape

from paylinks_events import Topic
from paylinks_runtime.testing import eventually, header

from .firm import Firm, html_part, payment_body, text_part
from .hostile import ATTRIBUTE_BREAKOUT, FILTER_INJECTIONS, HEADER_BREAKOUT, SCRIPT, SQL_DROP, SQL_TAUTOLOGY
from .system import System

ACCOUNT_NAME = f"O'Brien & Co {SCRIPT}"
BILL_NUMBER = "INV-7 <b onmouseover=alert(2)>"


@dataclass
class HostilePayments:
    firm: Firm
    account_id: str
    token: str
    # payment id -> (payer name, reference) exactly as the payer typed them
    typed: dict[str, tuple[str, str]]

    def id_of(self, payer: str) -> str:
        return next(pid for pid, (name, _) in self.typed.items() if name == payer)


@pytest.fixture(scope="module")
async def hostile(system: System, producer: AIOKafkaProducer) -> AsyncIterator[HostilePayments]:
    firm = Firm(system, producer)
    await firm.receive_emails()
    await firm.open_matter(name="Estate of Smith", number="2026-0042")
    account_id = await firm.register_account(ACCOUNT_NAME)
    token = await firm.account_token(account_id)
    typed = {}
    for amount, (payer, reference) in enumerate(
        [(SCRIPT, ATTRIBUTE_BREAKOUT), (SQL_DROP, SQL_TAUTOLOGY), (HEADER_BREAKOUT, SCRIPT)], start=1
    ):
        typed[await firm.paid(token, payment_body(amount * 1_000, name=payer, reference=reference))] = (
            payer,
            reference,
        )
    for payment_id in typed:
        await firm.payment_in(payment_id, "ready")
    yield HostilePayments(firm, account_id, token, typed)
    await firm.close()


async def test_hostile_text_is_stored_and_returned_verbatim(system: System, hostile: HostilePayments) -> None:
    # Protection: parameterised SQL (asyncpg $n), JSON end to end, no "sanitising" that alters text.
    firm = hostile.firm
    received = [
        json.loads(r.value)
        for r in await system.kafka.of_firms(firm.id)
        if r.topic == Topic.PAYMENT and header(r, "ce_type") == "PaymentReceived"
    ]
    published = {event["payment_id"]: event for event in received}
    for payment_id, (payer, reference) in hostile.typed.items():
        shown = await firm.payment(payment_id)
        assert shown is not None
        assert (shown["payer"]["name"], shown["reference"]) == (payer, reference)
        assert (published[payment_id]["payer"]["name"], published[payment_id]["reference"]) == (
            payer,
            reference,
        )
        stored = "SELECT payer_name FROM payments WHERE firm_id = $1 AND payment_id = $2"
        assert await system.notifier.fetchval(stored, firm.id, payment_id) == payer
    accounts = await firm.link.get("/v1/bank-accounts", headers=firm.staff)
    assert [a["name"] for a in accounts.json()["items"] if a["kind"] == "trust"] == [ACCOUNT_NAME]
    for service in (system.link, system.billing):  # "'; DROP TABLE bills; --" dropped nothing
        assert await service.fetchval("SELECT to_regclass('bills') IS NOT NULL")
    assert (await firm.billing.get("/v1/bills", headers=firm.staff)).status_code == 200


async def test_the_staff_page_escapes_names_references_and_the_search(hostile: HostilePayments) -> None:
    # Protection: jinja2 autoescape in reconciliation's templates (and its CSP, which allows no script).
    firm = hostile.firm
    for payment_id, (payer, reference) in hostile.typed.items():
        page = await firm.reconciliation.get(
            f"/payments/{payment_id}/link", params={"q": SCRIPT}, headers=firm.staff
        )
        assert page.status_code == 200
        assert_escaped(page.text, payer, reference, ACCOUNT_NAME, SCRIPT)
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert "script-src" not in page.headers["Content-Security-Policy"]


async def test_the_pay_page_and_the_qr_code_escape_the_account_name(hostile: HostilePayments) -> None:
    # Protection: jinja2 autoescape in link-service's templates; segno escapes the SVG title.
    firm = hostile.firm
    page = await firm.link.get(f"/pay/{hostile.token}")
    assert page.status_code == 200
    assert_escaped(page.text, ACCOUNT_NAME)
    svg = await firm.link.get(
        f"/v1/bank-accounts/{hostile.account_id}/qr-code", params={"format": "svg"}, headers=firm.staff
    )
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert_escaped(svg.text, ACCOUNT_NAME, escaped=xml_escape)  # XML: a quote needs no escaping here
    assert "<script" not in svg.text


async def test_emails_escape_the_html_part_and_keep_the_text_part_verbatim(
    system: System, hostile: HostilePayments
) -> None:
    # Protection: the notifier's autoescaped notice.html (notifier.rendering), plain notice.txt.
    firm = hostile.firm
    for payment_id, (payer, reference) in hostile.typed.items():
        for subject in ("Payment received", "Payment processed — ready to link"):
            message = await firm.mail_about(payment_id, subject)
            assert_escaped(html_part(message), payer, ACCOUNT_NAME)
            assert payer in text_part(message)
        received = await firm.mail_about(payment_id, "Payment received")
        assert_escaped(html_part(received), reference)
        assert reference in text_part(received)
    sent = "SELECT count(*) FROM outgoing_emails WHERE firm_id = $1 AND body_html LIKE '%<script>%'"
    assert await system.notifier.fetchval(sent, firm.id) == 0


async def test_hostile_matter_names_bill_numbers_and_unlink_reasons(hostile: HostilePayments) -> None:
    # Protection: the same autoescaping for text that arrives from other systems (practice.events) and
    # from staff; verbatim storage of staff text.
    firm = hostile.firm
    contact_id, matter_id = await firm.open_matter(name=f"{SCRIPT} Estate", number=ATTRIBUTE_BREAKOUT)
    payment_id = hostile.id_of(SQL_DROP)

    async def results_for(q: str) -> str | None:
        page = await firm.reconciliation.get(
            f"/payments/{payment_id}/link", params={"q": q}, headers=firm.staff
        )
        return page.text if str(escape(f"{SCRIPT} Estate")) in page.text else None

    page = await eventually(lambda: results_for("Estate"))
    assert_escaped(str(page), f"{SCRIPT} Estate", ATTRIBUTE_BREAKOUT)
    linked = await firm.reconciliation.post(
        f"/v1/payments/{payment_id}/link", json={"matter_id": matter_id}, headers=firm.staff
    )
    assert linked.status_code == 200, linked.text
    reason = f"{SQL_DROP} {SCRIPT}"
    unlinked = await firm.reconciliation.request(
        "DELETE", f"/v1/payments/{payment_id}/link", json={"reason": reason}, headers=firm.staff
    )
    assert unlinked.status_code == 200, unlinked.text
    history = await firm.reconciliation.get(f"/v1/payments/{payment_id}/history", headers=firm.staff)
    assert reason in [item["details"].get("reason") for item in history.json()["items"]]
    bill = {"matter_id": matter_id, "contact_id": contact_id, "amount": 5_000, "bill_number": BILL_NUMBER}
    issued = await firm.billing.post("/v1/bills", json=bill, headers=firm.staff)
    assert issued.status_code == 201
    assert issued.json()["bill_number"] == BILL_NUMBER
    bill_payment = await firm.paid(
        await firm.bill_token(issued.json()["bill_id"], hostile.account_id), payment_body(5_000)
    )
    email = await firm.mail_about(bill_payment, "Payment received")  # "Received via: bill link (bill …)"
    assert_escaped(html_part(email), BILL_NUMBER)


async def test_a_payer_name_cannot_add_headers_or_recipients_to_an_email(
    system: System, hostile: HostilePayments
) -> None:
    # Protection: notices._short / wording.one_line (a subject is one line), and EmailMessage's own checks.
    firm = hostile.firm
    message = await firm.mail_about(hostile.id_of(HEADER_BREAKOUT), "Payment received")
    assert "\r" not in str(message["subject"])
    assert "\n" not in " ".join(str(message["subject"]).split("\n "))
    assert message["bcc"] is None
    assert message["x-injected"] is None
    assert system.envelope_recipients(message) == [f"office@{firm.id}.example"]
    assert "thief@evil.example" not in str(message["to"])


def assert_escaped(html: str, *texts: str, escaped: Callable[[str], str] = lambda t: str(escape(t))) -> None:
    """Each hostile text shows up only in its escaped form."""
    for text in texts:
        assert escaped(text) in html, text
        assert escaped(text) == text or text not in html, f"unescaped: {text}"


# --- filters ------------------------------------------------------------------------------------------


async def test_sql_in_reconciliation_filters_is_taken_literally(hostile: HostilePayments) -> None:
    # Protection: parameterised queries; Literal status; the opaque, validated cursor.
    firm = hostile.firm

    async def listed(**params: Any) -> Any:
        return await firm.reconciliation.get("/v1/unlinked-payments", params=params, headers=firm.staff)

    everything = await listed(bank_account_id=hostile.account_id)
    # what a wider query would return; this module's bill payment may still be listed, pending, meanwhile
    assert set(hostile.typed) <= {item["payment_id"] for item in everything.json()["items"]}
    for injection in FILTER_INJECTIONS:
        widened = await listed(bank_account_id=injection)
        assert (widened.status_code, widened.json()["items"]) == (200, []), injection
        for name in ("status", "cursor", "limit"):
            refused = await listed(**{name: injection})
            assert refused.status_code == 422, (name, injection)
            assert refused.json()["error"]["code"] in {"validation_error", "invalid_cursor"}


async def test_sql_in_billing_and_notifier_filters_is_taken_literally(hostile: HostilePayments) -> None:
    # Protection: parameterised queries; Literal state.
    firm = hostile.firm
    some_payment = next(iter(hostile.typed))
    mine = await firm.notifier.get("/v1/emails", params={"payment_id": some_payment}, headers=firm.staff)
    staff_emails = [item for item in mine.json()["items"] if item["notice"] == "staff"]
    assert len(staff_emails) == 2  # received, processed: what a wider query would return more of
    for injection in FILTER_INJECTIONS:
        bills = await firm.billing.get("/v1/bills", params={"state": injection}, headers=firm.staff)
        assert bills.status_code == 422, injection
        bill = await firm.billing.get(f"/v1/bills/{quote(injection, safe='')}", headers=firm.staff)
        assert bill.status_code == 404, injection
        emails = await firm.notifier.get("/v1/emails", params={"payment_id": injection}, headers=firm.staff)
        assert (emails.status_code, emails.json()["items"]) == (200, []), injection


async def test_the_staff_page_search_treats_wildcards_and_sql_as_text(hostile: HostilePayments) -> None:
    # Protection: queries.search_targets escapes LIKE wildcards and binds the pattern as a parameter.
    firm = hostile.firm
    page = f"/payments/{next(iter(hostile.typed))}/link"

    async def found(q: str) -> bool:
        response = await firm.reconciliation.get(page, params={"q": q}, headers=firm.staff)
        assert response.status_code == 200, (q, response.status_code)
        return "Estate of Smith" in response.text

    await eventually(lambda: found("Smith"))  # the matter is there to be found
    for injection in (*FILTER_INJECTIONS, "%%", "S%h", "_state of Smith"):
        assert not await found(injection), injection


_OVERFLOWING_CURSOR = base64.urlsafe_b64encode(b'["9999-12-31T23:59:59-14:00","x"]').decode().rstrip("=")


async def test_a_cursor_with_a_date_out_of_range_is_422(hostile: HostilePayments) -> None:
    # Protection: cursor.decode bounds the date it accepts.
    firm = hostile.firm
    response = await firm.reconciliation.get(
        "/v1/unlinked-payments", params={"cursor": _OVERFLOWING_CURSOR}, headers=firm.staff
    )
    assert response.status_code == 422
