"""The client's HTML pay page as the server renders it: security headers and CSP (only its own script, only
the processor besides itself), no input that could carry a card or bank number to this service, money by the
currency's exponent, the eCheck authorization text, and the status pages of dead links. The payment flow in a
real browser is in test_pay_browser.py."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser

import pytest

from link_service.api.pay_page import processor_origin
from link_service.domain import echeck_authorization
from paylinks_events import BillIssued, utcnow
from paylinks_runtime.testing import auth_header, eventually

from .conftest import LinkService, token_of


class Inputs(HTMLParser):
    """Every form control of a page and every script element, as attribute dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "select", "textarea", "button"):
            self.controls.append(dict(attrs))
        if tag == "script":
            self.scripts.append(dict(attrs))


def parsed(html: str) -> Inputs:
    inputs = Inputs()
    inputs.feed(html)
    return inputs


async def test_the_page_has_a_strict_csp_that_allows_only_its_script_and_the_processor(service) -> None:
    _, _, token = await service.new_account_token()
    page = await service.client.get(f"/pay/{token}")
    assert page.status_code == 200
    assert "<title>Pay Smith &amp; Lee Trust</title>" in page.text
    directives = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == f"'self' {processor_origin(service.settings.processor_browser_url)}"
    assert directives["form-action"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    scripts = parsed(page.text).scripts
    assert len(scripts) == 1
    assert str(scripts[0]["src"]).startswith("/assets/pay.js?v=")
    script = await service.client.get(str(scripts[0]["src"]))
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "/v1/payment_methods" in script.text


async def test_the_page_names_the_firm_being_paid_and_the_account_it_pays_into(service) -> None:
    firm, _, token = await service.new_account_token()
    profile = await service.client.put(
        "/v1/firm",
        json={"display_name": "Smith & Lee LLP"},
        headers=auth_header(firm, roles=("staff", "admin")),
    )
    assert profile.status_code == 200, profile.text
    page = await service.client.get(f"/pay/{token}")
    assert "<title>Pay Smith &amp; Lee LLP</title>" in page.text
    assert "<h1>Pay Smith &amp; Lee LLP</h1>" in page.text
    assert "Payment into Smith &amp; Lee Trust · USD" in page.text
    assert echeck_authorization.TEXT.format(payee="Smith &amp; Lee LLP") in page.text
    assert "to Smith &amp; Lee LLP." in page.text  # the confirmation, shown by the script once paid


async def test_no_input_can_carry_a_card_or_bank_number_to_this_service(service) -> None:
    _, _, token = await service.new_account_token()
    page = await service.client.get(f"/pay/{token}")
    controls = parsed(page.text).controls
    ids = {c.get("id") for c in controls}
    assert {"card_number", "card_cvc", "routing_number", "account_number", "authorize"} <= ids
    assert {c.get("name") for c in controls} == {None, "method"}  # only the card/eCheck choice has a name
    assert 'data-payments-url="/v1/pay/' in page.text
    assert "<form" in page.text
    assert re.search(r"<form[^>]*\b(action|method)=", page.text) is None
    assert (
        await service.client.post(f"/pay/{token}", data={"card_number": "4242424242424242"})
    ).status_code == 405


async def test_the_echeck_authorization_text_names_the_payee_and_its_version(service) -> None:
    _, _, token = await service.new_account_token()
    page = await service.client.get(f"/pay/{token}")
    words = echeck_authorization.TEXT.format(payee="Smith &amp; Lee Trust")
    assert words in page.text
    assert f'data-version="{echeck_authorization.VERSION}"' in page.text


async def test_a_qr_link_keeps_its_channel_for_the_payment(service) -> None:
    _, _, token = await service.new_account_token()
    page = await service.client.get(f"/pay/{token}", params={"via": "qr"})
    assert f'data-payments-url="/v1/pay/{token}/payments?via=qr"' in page.text


async def test_a_zero_decimal_bill_shows_whole_yen(service) -> None:
    token = await yen_bill_token(service, 5_000)
    page = await service.client.get(f"/pay/{token}")
    assert '<p class="due" id="balance-due">¥5,000</p>' in page.text
    assert 'value="5000"' in page.text
    assert 'data-exponent="0"' in page.text
    assert 'data-prefix="¥"' in page.text
    assert "Amount (JPY)" in page.text
    assert 'inputmode="numeric"' in page.text


async def test_an_unknown_link_is_a_404_page(service) -> None:
    page = await service.client.get("/pay/not-a-real-token")
    assert page.status_code == 404
    assert "Payment link not found" in page.text
    assert (
        "script-src" not in page.headers["content-security-policy"]
    )  # a page that takes no payment: no script


@pytest.mark.parametrize(
    ("close", "words"),
    [
        ("void", "This bill was cancelled, so it can no longer be paid."),
        ("paid", "This bill is already paid"),
    ],
)
async def test_a_closed_bills_link_says_why_it_cannot_be_paid(service, close: str, words: str) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    bill_id = await service.issue_bill(firm, 80_000)
    token = token_of((await service.bill_link_once_known(firm, bill_id, account_id))["url"])
    assert (await service.client.get(f"/pay/{token}")).status_code == 200
    await (service.void_bill(firm, bill_id) if close == "void" else service.pay_bill_off(firm, bill_id))
    await eventually(lambda: _status_is(service, token, close))
    page = await service.client.get(f"/pay/{token}")
    assert page.status_code == 410
    assert words in page.text
    assert "<form" not in page.text
    assert "<script" not in page.text


async def test_a_bill_covered_by_payments_being_processed_shows_nothing_left_to_pay(service) -> None:
    firm = service.new_firm()
    await service.register_account(firm, "Smith & Lee Operating", "operating")
    account_id = await service.register_account(firm)
    bill_id = await service.issue_bill(firm, 50_000)
    token = token_of((await service.bill_link_once_known(firm, bill_id, account_id))["url"])
    paid = await service.pay(token, await service.card_payment(50_000))
    assert paid.status_code == 202, paid.text
    page = await service.client.get(f"/pay/{token}")  # not yet applied to the bill: it still counts
    assert page.status_code == 200
    assert "Nothing left to pay" in page.text
    assert "<form" not in page.text


def test_the_processor_origin_is_an_http_origin() -> None:
    assert processor_origin("https://pay.example.com:8443/api/") == "https://pay.example.com:8443"
    for bad in ("javascript:alert(1)", "127.0.0.1:8005", "https://"):
        with pytest.raises(ValueError, match="PROCESSOR_URL"):
            processor_origin(bad)


async def yen_bill_token(service: LinkService, amount: int) -> str:
    """The link of a fresh JPY bill paid into a JPY trust account (the firm's JPY operating account takes the
    processor's fees)."""
    firm = service.new_firm()
    accounts = {}
    for name, kind in (("Tanaka Operating", "operating"), ("Tanaka Trust", "trust")):
        response = await service.client.post(
            "/v1/bank-accounts",
            json={"name": name, "kind": kind, "currency": "JPY"},
            headers=auth_header(firm, roles=("staff", "admin")),
        )
        assert response.status_code == 201, response.text
        accounts[kind] = response.json()["bank_account_id"]
    bill_id = str(uuid.uuid4())
    await service.publish(
        BillIssued(
            bill_id=bill_id,
            firm_id=firm,
            matter_id="m-1",
            contact_id="c-1",
            amount=amount,
            currency="JPY",
            issued_at=utcnow(),
        )
    )
    link = await service.bill_link_once_known(firm, bill_id, accounts["trust"])
    return token_of(link["url"])


async def _status_is(service, token: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    return bool((await service.link_status(token))["status"] == status)


async def test_tokens_stay_out_of_the_trace_spans(service, spans) -> None:
    _, _, token = await service.new_account_token()
    assert (await service.client.get(f"/pay/{token}")).status_code == 200
    assert (await service.client.get(f"/v1/pay/{token}")).status_code == 200
    assert (await service.pay(token, {"amount": "bad"})).status_code == 422
    server_spans = [s for s in spans.get_finished_spans() if "pay/{token}" in s.name]
    assert len(server_spans) >= 3
    leaked = [
        (s.name, k)
        for s in spans.get_finished_spans()
        for k, v in (s.attributes or {}).items()
        if token in str(v)
    ]
    assert leaked == []
