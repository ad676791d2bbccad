"""Currencies are ISO 4217 codes, and a bill is paid in its own currency: an account in another currency
cannot get a link for it."""

from __future__ import annotations

import httpx

from paylinks_runtime.testing import eventually

from .firm import Firm
from .system import System


async def test_a_bank_account_in_a_currency_that_does_not_exist_is_422(system: System, firm: Firm) -> None:
    # Protection: paylinks_events.currencies.iso_4217 on link-service's new bank account.
    for code in ("ZZZ", "XXX", "usd"):
        response = await firm.link.post(
            "/v1/bank-accounts", json={"name": "Trust", "kind": "trust", "currency": code}, headers=firm.admin
        )
        assert response.status_code == 422, (code, response.text)
    assert await system.link.events_of(firm.id) == 0


async def test_a_bill_link_on_an_account_of_another_currency_is_422(system: System, firm: Firm) -> None:
    # Protection: link-service's Links.bill_link compares the bill's currency with the account's.
    euro_account = await firm.link.post(
        "/v1/bank-accounts",
        json={"name": "EUR trust", "kind": "trust", "currency": "EUR"},
        headers=firm.admin,
    )
    assert euro_account.status_code == 201, euro_account.text
    contact_id, matter_id = await firm.open_matter()
    body = {"matter_id": matter_id, "contact_id": contact_id, "amount": 50_000, "currency": "USD"}
    bill = await firm.billing.post("/v1/bills", json=body, headers=firm.staff)
    assert bill.status_code == 201, bill.text
    events_before = await system.link.events_of(firm.id)

    async def refused() -> httpx.Response | None:
        response = await firm.link.post(
            f"/v1/bills/{bill.json()['bill_id']}/payment-link",
            json={"bank_account_id": euro_account.json()["bank_account_id"]},
            headers=firm.staff,
        )
        return response if response.status_code != 404 else None  # 404 until link-service knows the bill

    response = await eventually(refused)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "currency_mismatch"
    assert await system.link.events_of(firm.id) == events_before
