"""The client's HTML pay page: security headers, plain-word errors, and the whole flow in a real headless
Chromium (card payment to confirmation; a voided bill's link explains why it cannot be paid)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from paylinks_runtime.testing import CARD_EXPIRY, chromium, eventually

from .conftest import DECLINED_CARD, OK_CARD, token_of


def card_form(**fields: str) -> dict[str, str]:
    return {
        "amount": "125.00",
        "name": "Ada Client",
        "email": "ada@example.com",
        "reference": "2026-0042",
        "method": "card",
        "card_number": OK_CARD,
        "card_exp": CARD_EXPIRY,
        "card_cvc": "123",
        **fields,
    }


async def test_the_page_has_strict_security_headers_and_no_external_assets(service) -> None:
    _, _, token = await service.new_account_token()
    page = await service.client.get(f"/pay/{token}")
    assert page.status_code == 200
    assert "Pay Smith &amp; Lee Trust" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "form-action 'self'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text


async def test_an_unknown_link_is_a_404_page(service) -> None:
    page = await service.client.get("/pay/not-a-real-token")
    assert page.status_code == 404
    assert "Payment link not found" in page.text


async def test_form_errors_are_plain_words_and_card_data_is_not_echoed(service) -> None:
    _, _, token = await service.new_account_token()
    cases = [
        (card_form(amount="ten dollars"), 422, "Amount: enter an amount such as 125.00."),
        (card_form(amount="1.005"), 422, "Amount: use at most two decimal places."),
        (card_form(email="nope"), 422, "Email: "),
        (card_form(card_exp="13"), 422, "Expiry: enter the month and year as MM/YY."),
        (card_form(card_number=DECLINED_CARD), 402, "The card was declined."),
        (card_form(amount="0"), 422, "The amount must be a positive whole number of cents."),
    ]
    for form, status, words in cases:
        page = await service.client.post(f"/pay/{token}", data=form)
        assert page.status_code == status, form
        assert words in page.text, form
        assert form["card_number"] not in page.text


async def test_an_echeck_through_the_qr_link_gets_a_confirmation(service) -> None:
    _, _, token = await service.new_account_token()
    form = card_form(method="echeck", routing_number="110000000", account_number="000123456789")
    page = await service.client.post(f"/pay/{token}", params={"via": "qr"}, data=form)
    assert page.status_code == 200
    assert "We received your payment of" in page.text
    assert "eCheck payments take a few business days" in page.text


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as browser:
        yield browser


async def test_in_a_browser_a_client_pays_an_account_link_by_card(service, browser) -> None:
    _, _, token = await service.new_account_token()
    page = await browser.new_page()
    await page.goto(f"{service.settings.public_base_url}/pay/{token}")
    assert await page.locator("h1").inner_text() == "Pay Smith & Lee Trust"
    await page.fill("#amount", "250.00")
    await page.fill("#name", "Ada Client")
    await page.fill("#email", "ada@example.com")
    await page.fill("#reference", "2026-0042")
    await page.check("#method-card")
    await page.fill("#card_number", OK_CARD)
    await page.fill("#card_exp", CARD_EXPIRY)
    await page.fill("#card_cvc", "123")
    assert not await page.locator("#routing_number").is_visible()  # the eCheck fields hide without script
    await page.click("#pay")
    confirmation = await page.locator("#confirmation").inner_text()
    assert "We received your payment of $250.00 to Smith & Lee Trust." in confirmation
    assert len(await page.locator("#payment-id").inner_text()) == 36
    await page.close()


async def test_in_a_browser_a_voided_bills_link_says_why_it_cannot_be_paid(service, browser) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    bill_id = await service.issue_bill(firm, 80_000)
    token = token_of((await service.bill_link_once_known(firm, bill_id, account_id))["url"])
    page = await browser.new_page()
    await page.goto(f"{service.settings.public_base_url}/pay/{token}")
    assert await page.locator("#balance-due").inner_text() == "$800.00"
    assert await page.input_value("#amount") == "800.00"
    await service.void_bill(firm, bill_id)
    await eventually(lambda: _status_is(service, token, "void"))
    response = await page.goto(f"{service.settings.public_base_url}/pay/{token}")
    assert response is not None
    assert response.status == 410
    assert (
        "This bill was cancelled, so it can no longer be paid." in await page.locator("#problem").inner_text()
    )
    assert await page.locator("form").count() == 0
    await page.close()


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
