"""The staff workspace's refund, end to end in Debian's Chromium: an admin refunds part of a card payment
from the payment's page; reconciliation-service asks link-service, which charges the refund once through
the sandbox processor; its webhook comes back as RefundSucceeded, and the page tags the payment."""

from __future__ import annotations

import pytest

from paylinks_devstack.client import PaylinksClient, token_of
from paylinks_devstack.stack import Stack
from paylinks_runtime.testing import chromium

from .test_payment_stories import register_accounts

pytestmark = pytest.mark.timeout(300)


async def test_an_admin_refunds_part_of_a_payment_from_the_workspace(
    stack: Stack, firm: PaylinksClient
) -> None:
    accounts = await register_accounts(firm)
    url = await firm.account_link(accounts["trust"])
    response = await firm.pay(token_of(url), 12500, "Robin Refund")
    assert response.status_code == 202
    payment_id = response.json()["payment_id"]
    await firm.when(lambda: firm.payment(payment_id), "status", "ready")
    workspace = stack.config.url("reconciliation-service")

    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{workspace}/dev/sign-in?firm_id={firm.firm_id}")
        await page.get_by_label("Admin (may refund)").check()
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{workspace}/payments")
        await page.goto(f"{workspace}/payments/{payment_id}")
        await page.get_by_label("Amount to refund (USD)").fill("20.00")
        await page.get_by_label("Reason", exact=True).fill("overpaid")
        await page.get_by_role("button", name="Refund").click()
        assert "Refund requested" in await page.locator("#notice").inner_text()
        tag = page.locator("#tags").get_by_text("partially refunded")
        for _ in range(100):  # the processor settles the refund, its webhook and events take their time
            if await tag.count():
                break
            await page.wait_for_timeout(200)
            await page.reload()
        assert await tag.count() == 1

    refunds = await firm.call("GET", "link-service", f"/v1/payments/{payment_id}/refunds")
    assert [(r["amount"], r["status"], r["reason"]) for r in refunds["items"]] == [
        (2000, "succeeded", "overpaid")
    ]
    assert (await firm.payment(payment_id))["refunded_amount"] == 2000
