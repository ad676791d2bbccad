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
from typing import Any

import httpx
import pytest

from paylinks_runtime.testing import chromium, eventually

from .conftest import DECLINED_CARD, OK_ACCOUNT, OK_CARD, ROUTING, LinkService, token_of
from .test_pay_page import yen_bill_token

CVC = "7391"
CARD_SECRETS = (OK_CARD, "4242 4242 4242 4242", CVC)
BANK_SECRETS = (OK_ACCOUNT,)


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
        page.on("request", self._requests.append)

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
        await self.page.fill("#card_exp", "12/31")
        await self.page.fill("#card_cvc", CVC)

    async def fill_bank(self) -> None:
        await self.page.check("#method-echeck")
        await self.page.fill("#routing_number", ROUTING)
        await self.page.fill("#account_number", OK_ACCOUNT)

    async def confirmation(self) -> str:
        await self.page.locator("#confirmation").wait_for(state="visible")
        return str(await self.page.locator("#confirmation").inner_text())

    async def errors(self) -> list[str]:
        await self.page.locator("#error-summary").wait_for(state="visible")
        return [str(t) for t in await self.page.locator("#error-list li").all_inner_texts()]

    async def focused(self) -> str:
        return str(await self.page.evaluate("document.activeElement.id"))


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
        watched = WatchedPage(await context.new_page(), service, processor.url)
        response = await watched.page.goto(f"{service.settings.public_base_url}/pay/{token}")
        assert response is not None and response.status == 200
        return watched

    yield open_
    for context in contexts:
        await context.close()


async def charges(processor, payment_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=processor.url, headers=processor.api_headers) as client:
        response = await client.get("/v1/sandbox/charges", params={"payment_id": payment_id})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_card_is_tokenized_at_the_processor_and_link_service_gets_only_the_token(
    service, processor, open_page
) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer("250.00")
    await tab.fill_card()
    await tab.page.click("#pay")

    assert "We received your payment of $250.00" in await tab.confirmation()
    payment_id = await tab.page.locator("#payment-id").inner_text()
    [tokenization] = await tab.tokenizations()
    assert tokenization.json()["card"]["number"] == OK_CARD and tokenization.json()["card"]["cvc"] == CVC
    assert tokenization.headers["authorization"] == f"Bearer {service.settings.processor_publishable_key}"
    [payment] = await tab.payments()
    body = payment.json()
    assert body["payment_method"].startswith("pm_") and body["amount"] == 25_000 and body["method"] == "card"
    assert body["payer"] == {"name": "Ada Client", "email": "ada@example.com"}
    assert len(payment.headers["idempotency-key"]) >= 16
    leaks = [
        (s.method, s.url, secret)
        for s in await tab.to_link_service()
        for secret in CARD_SECRETS
        if s.holds(secret)
    ]
    assert leaks == []
    [charge] = await charges(processor, payment_id)
    assert (charge["amount"], charge["currency"]) == (25_000, "USD")


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
    assert await tab.tokenizations() == [] and await tab.payments() == []  # refused before sending anything

    await tab.page.check("#authorize")
    await tab.page.click("#pay")
    assert "eCheck payments take a few business days to clear." in await tab.confirmation()
    [tokenization] = await tab.tokenizations()
    assert tokenization.json()["us_bank_account"]["account_number"] == OK_ACCOUNT
    [payment] = await tab.payments()
    assert payment.json()["authorization"] == {"accepted": True} and payment.json()["method"] == "echeck"
    leaks = [
        (s.url, secret) for s in await tab.to_link_service() for secret in BANK_SECRETS if s.holds(secret)
    ]
    assert leaks == []


async def test_a_declined_card_shows_one_decline_message_and_nothing_is_received(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.fill_payer()
    await tab.fill_card(DECLINED_CARD)
    await tab.page.click("#pay")

    [message] = await tab.errors()
    assert "declined" in message.lower()
    assert await tab.focused() == "error-summary"
    assert not await tab.page.locator("#done").is_visible()
    [payment] = await tab.payments()
    assert DECLINED_CARD not in payment.body


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

    first, retry = await tab.payments()
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"] and first.body == retry.body
    assert len(await tab.tokenizations()) == 1
    payment_id = await tab.page.locator("#payment-id").inner_text()
    assert len(await charges(processor, payment_id)) == 1


async def test_a_yen_bill_shows_and_pays_whole_yen(service, processor, open_page) -> None:
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
    assert "We received your payment of ¥3,000" in await tab.confirmation()
    [payment] = await tab.payments()
    assert payment.json()["amount"] == 3_000
    [charge] = await charges(processor, await tab.page.locator("#payment-id").inner_text())
    assert (charge["amount"], charge["currency"]) == (3_000, "JPY")


async def test_missing_fields_are_listed_announced_and_linked_to_their_inputs(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    await tab.page.click("#pay")
    errors = await tab.errors()
    assert errors[:3] == [
        "Amount: enter an amount such as 125.00.",
        "Your name: enter your name.",
        "Email: enter an email address such as name@example.com.",
    ]
    assert len(errors) == 6 and await tab.focused() == "error-summary"
    assert await tab.page.get_attribute("#error-summary", "role") == "alert"
    await tab.page.click("#error-list a[data-field=card_number]")
    assert await tab.focused() == "card_number"
    assert [s for s in await tab.seen() if s.method != "GET"] == []  # nothing was sent anywhere


async def test_a_link_opened_from_the_qr_code_pays_through_the_qr_channel(service, open_page) -> None:
    _, _, token = await service.new_account_token()
    tab = await open_page(token)
    response = await tab.page.goto(f"{service.settings.public_base_url}/pay/{token}?via=qr")
    assert response is not None and response.status == 200
    await tab.fill_payer("10.00")
    await tab.fill_card()
    await tab.page.click("#pay")
    await tab.confirmation()
    [payment] = await tab.payments()
    assert payment.url.endswith(f"/v1/pay/{token}/payments?via=qr")


async def test_a_voided_bills_open_page_refuses_the_payment_with_the_servers_words(
    service, open_page
) -> None:
    firm = service.new_firm()
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
