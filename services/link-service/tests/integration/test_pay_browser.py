"""The pay page in a real Chromium, against a real link-service and the real sandbox processor process.

Every request the browser makes is watched: the card number, the CVC and the bank account number go to the
processor's tokenization endpoint and nowhere else; link-service gets only the token (`pm_...`), the amount
and the payer. Also: the eCheck authorization box, one decline message, one charge whatever the double clicks
and retries, and whole yen for a zero-decimal currency.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paylinks_runtime.testing import (
    CARD_EXPIRY,
    CARD_EXPIRY_YEAR,
    auth_header,
    chromium,
    eventually,
    serious_accessibility_violations,
)
from processor_sandbox.testing import Sandbox

from .conftest import DECLINED_CARD, OK_ACCOUNT, OK_CARD, ROUTING, LinkService, token_of
from .test_pay_page import yen_bill_token

CVC = "739"
# A CVC is short: it is looked for as a JSON or form value, where it would be sent, not as any three digits.
CARD_SECRETS = (OK_CARD, "4242 4242 4242 4242", f'"{CVC}"', f"={CVC}", '"cvc"')
BANK_SECRETS = (OK_ACCOUNT, '"account_number"')


@dataclass
class Seen:
    """A request the browser sent, as the server it went to received it."""

    method: str
    url: str
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    def holds(self, secret: str) -> bool:
        return secret in self.url or secret in self.body or any(secret in v for v in self.headers.values())


class WatchedPage:
    """A browser tab on a pay page that records every request it makes."""

    def __init__(self, page: Any, service: LinkService, processor_url: str) -> None:
        self.page = page
        self.service_origin = service.settings.public_base_url
        self.processor_url = processor_url
        self._requests: list[Any] = []
        page.on("request", lambda request: self._requests.append(request))

    async def seen(self) -> list[Seen]:
        return [Seen(r.method, r.url, await r.all_headers(), r.post_data or "") for r in self._requests]

    async def to_link_service(self) -> list[Seen]:
        return [s for s in await self.seen() if s.url.startswith(self.service_origin)]

    async def tokenizations(self) -> list[Seen]:
        return [s for s in await self.seen() if s.url == f"{self.processor_url}/v1/payment_methods"]

    async def payments(self) -> list[Seen]:
        return [s for s in await self.to_link_service() if "/payments" in s.url and s.method == "POST"]

    async def fill_payer(self, amount: str | None = "250.00") -> None:
        if amount is not None:
            await self.page.fill("#amount", amount)
        await self.page.fill("#name", "Ada Client")
        await self.page.fill("#email", "ada@example.com")
        await self.page.fill("#reference", "2026-0042")

    async def fill_card(self, number: str = "4242 4242 4242 4242") -> None:
        await self.page.check("#method-card")
        await self.page.fill("#card_number", number)
        await self.page.fill("#card_exp", CARD_EXPIRY)
        await self.page.fill("#card_cvc", CVC)

    async def fill_bank(self) -> None:
        await self.page.check("#method-echeck")
        await self.page.fill("#routing_number", ROUTING)
        await self.page.fill("#account_number", OK_ACCOUNT)

    async def outcome(self) -> None:
        """Until the page shows what came of the payment: its confirmation or its errors."""
        await self.page.locator("#done:not([hidden]), #error-summary:not([hidden])").wait_for()

    async def confirmation(self) -> str:
        """The confirmation's words, once the page shows them (and the page's errors if it shows those)."""
        await self.outcome()
        assert await self.page.locator("#error-summary").is_hidden(), await self.errors()
        return str(await self.page.locator("#confirmation").inner_text())

    async def leaks(self, secrets: tuple[str, ...]) -> list[tuple[str, str]]:
        """(url, secret) of every request to link-service's origin that holds one of `secrets`."""
        return [
            (s.url, secret) for s in await self.to_link_service() for secret in secrets if s.holds(secret)
        ]

    async def errors(self) -> list[str]:
        await self.page.locator("#error-summary").wait_for(state="visible")
        return [str(t) for t in await self.page.locator("#error-list li").all_inner_texts()]

    async def focused(self) -> str:
        return str(await self.page.evaluate("document.activeElement.id"))


@pytest.fixture(scope="module")
def processor(service: LinkService) -> Sandbox:
    """The sandbox processor process beside the module's link-service (its webhooks go to link-service)."""
    return service.sandbox


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def open_page(browser, service, processor):  # type: ignore[no-untyped-def]
    contexts = []

    async def open_(token: str) -> WatchedPage:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        watched = WatchedPage(await context.new_page(), service, processor.base_url)
        response = await watched.page.goto(f"{service.settings.public_base_url}/pay/{token}")
        assert response is not None
        assert response.status == 200
        return watched

    yield open_
    for context in contexts:
        await context.close()


async def test_card_details_go_only_to_the_processor_and_link_service_gets_the_token(
    service, open_page
) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer("250.00")
    await tab.fill_card()
    await tab.page.click("#pay")
    await tab.outcome()

    [tokenization] = await tab.tokenizations()
    assert tokenization.json()["card"] == {
        "number": OK_CARD,
        "cvc": CVC,
        "exp_month": 12,
        "exp_year": CARD_EXPIRY_YEAR,
    }
    assert tokenization.headers["authorization"] == f"Bearer {service.settings.processor_publishable_key}"
    [payment] = await tab.payments()
    body = payment.json()
    assert body["payment_method"].startswith("pm_")
    assert body["amount"] == 25_000
    assert body["method"] == "card"
    assert body["payer"] == {"name": "Ada Client", "email": "ada@example.com"}
    assert body["reference"] == "2026-0042"
    assert set(body) == {"amount", "method", "payer", "reference", "payment_method"}
    assert len(payment.headers["idempotency-key"]) == 32
    assert await tab.leaks(CARD_SECRETS) == []


async def test_a_card_payment_is_received_by_the_named_firm_and_charged_once(
    service, processor, open_page
) -> None:
    firm, _, token = await service.new_account_token()
    profile = await service.client.put(
        "/v1/firm",
        json={"display_name": "Smith & Lee LLP"},
        headers=auth_header(firm, roles=("staff", "admin")),
    )
    assert profile.status_code == 200, profile.text
    tab = await open_page(token)
    assert await tab.page.title() == "Pay Smith & Lee LLP"
    await tab.fill_payer("250.00")
    await tab.fill_card()
    await tab.page.click("#pay")

    confirmation = await tab.confirmation()
    assert "We received your payment of $250.00 to Smith & Lee LLP." in confirmation
    assert "Card payments are usually confirmed within minutes." in confirmation
    assert await tab.focused() == "done"
    assert await tab.page.locator("form").count() == 0  # the card fields are gone with the form
    assert await tab.page.locator("#before-paying").is_hidden()  # no stale balance beside the receipt
    [charge] = await processor.charges(await tab.page.locator("#payment-id").inner_text())
    assert (charge["amount"], charge["currency"]) == (25_000, "USD")
    assert await tab.leaks(CARD_SECRETS) == []


async def test_an_echeck_needs_the_authorization_box_and_sends_no_account_number_to_link_service(
    service, open_page
) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer("300.00")
    await tab.fill_bank()
    await tab.page.click("#pay")

    assert await tab.errors() == ["Authorization: tick the box to authorize the eCheck debit."]
    assert await tab.focused() == "error-summary"
    assert await tab.page.get_attribute("#authorize", "aria-invalid") == "true"
    assert await tab.tokenizations() == []
    assert await tab.payments() == []

    await tab.page.check("#authorize")
    await tab.page.click("#pay")
    await tab.outcome()
    [tokenization] = await tab.tokenizations()
    assert tokenization.json()["us_bank_account"] == {
        "routing_number": ROUTING,
        "account_number": OK_ACCOUNT,
        "account_holder_name": "Ada Client",
    }
    [payment] = await tab.payments()
    assert payment.json()["authorization"] == {"accepted": True}
    assert payment.json()["method"] == "echeck"
    assert await tab.leaks(BANK_SECRETS) == []


async def test_an_authorized_echeck_is_received(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer("300.00")
    await tab.fill_bank()
    await tab.page.check("#authorize")
    await tab.page.click("#pay")
    confirmation = await tab.confirmation()
    assert "We received your payment of $300.00" in confirmation
    assert "eCheck payments take a few business days to clear." in confirmation


async def test_a_declined_card_shows_one_decline_message(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer()
    await tab.fill_card(DECLINED_CARD)
    await tab.page.click("#pay")

    [message] = await tab.errors()
    assert "declined" in message.lower()
    assert await tab.focused() == "error-summary"
    assert await tab.page.locator("#done").is_hidden()
    assert await tab.leaks((DECLINED_CARD, f'"{CVC}"')) == []


async def test_a_double_click_and_a_retry_after_a_lost_answer_charge_once(
    service, processor, open_page
) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer("125.00")
    await tab.fill_card()

    async def lose_the_answer(route: Any) -> None:
        await route.fetch()  # the server takes the payment; its answer never reaches the page
        await route.abort("connectionreset")

    await tab.page.route("**/v1/pay/*/payments", lose_the_answer)
    await tab.page.dblclick("#pay")
    [lost] = await tab.errors()
    assert "Press Pay again to retry: you will not be charged twice." in lost
    await tab.page.unroute("**/v1/pay/*/payments")
    await tab.page.click("#pay")
    assert "We received your payment of $125.00" in await tab.confirmation()

    first, retry = await tab.payments()  # the double click sent one; Pay again re-sent it as it was
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert first.body == retry.body
    assert len(await tab.tokenizations()) == 1
    assert len(await processor.charges(await tab.page.locator("#payment-id").inner_text())) == 1


async def test_a_double_click_sends_one_payment(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer("125.00")
    await tab.fill_card()
    await tab.page.dblclick("#pay")
    await tab.outcome()
    assert len(await tab.tokenizations()) == 1
    assert len(await tab.payments()) == 1


async def test_a_yen_bill_shows_whole_yen_and_sends_whole_yen(service, open_page) -> None:
    tab = await open_page(await yen_bill_token(service, 5_000))
    assert await tab.page.locator("#balance-due").inner_text() == "¥5,000"
    assert await tab.page.input_value("#amount") == "5000"
    await tab.fill_payer("30.5")
    await tab.fill_card()
    await tab.page.click("#pay")
    assert await tab.errors() == ["Amount: enter a whole amount, without decimals."]
    assert await tab.payments() == []

    await tab.page.fill("#amount", "¥3,000")
    await tab.page.click("#pay")
    await tab.outcome()
    [payment] = await tab.payments()
    assert payment.json()["amount"] == 3_000


async def test_a_yen_payment_is_charged_in_whole_yen(service, processor, open_page) -> None:
    tab = await open_page(await yen_bill_token(service, 5_000))
    await tab.fill_payer("¥3,000")
    await tab.fill_card()
    await tab.page.click("#pay")
    assert "We received your payment of ¥3,000" in await tab.confirmation()
    [charge] = await processor.charges(await tab.page.locator("#payment-id").inner_text())
    assert (charge["amount"], charge["currency"]) == (3_000, "JPY")


async def test_missing_fields_are_listed_announced_and_linked_to_their_inputs(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.page.click("#pay")
    errors = await tab.errors()
    assert errors == [
        "Amount: enter an amount such as 125.00.",
        "Your name: enter your name.",
        "Email: enter an email address such as name@example.com.",
        "Card number: enter the 12 to 19 digits on your card.",
        "Expiry: enter the month and year as MM/YY.",
        "CVC: enter the 3 or 4 digit security code.",
    ]
    assert await tab.focused() == "error-summary"
    assert await tab.page.get_attribute("#error-summary", "role") == "alert"
    await tab.page.click("#error-list a[data-field=card_number]")
    assert await tab.focused() == "card_number"
    assert [s for s in await tab.seen() if s.method != "GET"] == []  # nothing was sent anywhere


async def test_what_is_not_an_amount_is_refused_before_anything_is_sent(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer(None)
    await tab.fill_card()
    for amount in ["0", "-5.00", "0.001", "1.005", "abc", "", "$-1", "1,00,0.0.0", "NaN", "Infinity", "1e30"]:
        await tab.page.fill("#amount", amount)
        await tab.page.click("#pay")
        [error] = await tab.errors()
        assert error.startswith("Amount: "), (amount, error)
        assert await tab.page.get_attribute("#amount", "aria-invalid") == "true"
    assert [s for s in await tab.seen() if s.method != "GET"] == []


async def test_an_invalid_card_number_is_refused_by_the_processor_in_plain_words(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer()
    await tab.fill_card("4242 4242 4242 4241")  # fails the Luhn check
    await tab.page.click("#pay")
    assert await tab.errors() == ["Card number: check the number on your card."]
    assert await tab.page.get_attribute("#card_number", "aria-invalid") == "true"
    assert len(await tab.tokenizations()) == 1
    assert await tab.payments() == []


async def test_a_link_opened_from_the_qr_code_pays_through_the_qr_channel(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    response = await tab.page.goto(f"{service.settings.public_base_url}/pay/{token}?via=qr")
    assert response is not None
    assert response.status == 200
    await tab.fill_payer("10.00")
    await tab.fill_card()
    await tab.page.click("#pay")
    await tab.outcome()
    [payment] = await tab.payments()
    assert payment.url.endswith(f"/v1/pay/{token}/payments?via=qr")


async def test_a_bill_voided_while_its_page_is_open_refuses_the_payment_in_the_servers_words(
    service, open_page
) -> None:
    firm = service.new_firm()
    await service.register_account(firm, "Smith & Lee Operating", "operating")  # takes the processor's fees
    account_id = await service.register_account(firm)
    bill_id = await service.issue_bill(firm, 80_000)
    token = token_of((await service.bill_link_once_known(firm, bill_id, account_id))["url"])
    tab = await open_page(token)
    assert await tab.page.locator("#balance-due").inner_text() == "$800.00"
    assert await tab.page.input_value("#amount") == "800.00"
    await service.void_bill(firm, bill_id)
    await tab.fill_payer(None)
    await tab.fill_card()

    async def voided() -> bool:
        return bool((await service.link_status(token))["status"] == "void")

    await eventually(voided)
    await tab.page.click("#pay")
    assert await tab.errors() == ["This bill was cancelled, so it can no longer be paid."]


async def test_the_page_has_no_serious_accessibility_violation_in_any_of_its_states(
    service, browser, axe_core: Path
) -> None:
    """axe-core over the card form, the eCheck form with its authorization, and the error summary shown."""
    _, _, token = await service.new_account_token()
    context = await browser.new_context(bypass_csp=True)  # axe is injected as an inline script
    try:
        page = await context.new_page()
        await page.goto(f"{service.settings.public_base_url}/pay/{token}")
        found = {"card": await serious_accessibility_violations(page, axe_core)}
        await page.check("#method-echeck")
        found["echeck"] = await serious_accessibility_violations(page, axe_core)
        await page.click("#pay")
        await page.locator("#error-summary").wait_for(state="visible")
        found["errors"] = await serious_accessibility_violations(page, axe_core)
    finally:
        await context.close()
    assert found == {"card": [], "echeck": [], "errors": []}
