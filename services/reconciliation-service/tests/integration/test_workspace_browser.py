"""The staff workspace in Debian's Chromium: a bookkeeper's day (sign in, find a payment by the payer's email,
link it, unlink it with a reason, refund part of it as an admin and see the tag, download the deposit CSV),
every page checked with axe-core (no serious or critical violation) and photographed at 1280 and 400 px.

link-service is another service, not run by this service's tests: here a stub stands in for its refund
endpoint, answering 202 and publishing the RefundRequested / RefundSucceeded events link-service would, so the
tag comes from the real read model. The same refund against the real link-service and sandbox processor is
tests/e2e/test_workspace_refund.py.
Screenshots go to a temporary folder, or to $PAYLINKS_SCREENSHOTS (docs/screenshots for the README)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from paylinks_events import Payer, PayoutLine, RefundRequested, RefundSucceeded
from paylinks_runtime.testing import chromium, eventually, free_socket, serving
from reconciliation_service.config import Settings


@pytest.fixture
async def link_service(firm, settings: Settings, monkeypatch) -> AsyncIterator[list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Stands in for link-service's refund endpoint: 202, then the refund's events on the real topic."""
    calls: list[dict[str, Any]] = []
    stub = FastAPI()

    @stub.post("/v1/payments/{payment_id}/refunds")
    async def refund(payment_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        calls.append(body)
        payment = await firm.payment(payment_id)
        now = datetime.now(UTC)
        requested = RefundRequested(
            firm_id=firm.id, refund_id=f"re-{len(calls)}-{payment_id}", payment_id=payment_id,
            bank_account_id=payment["bank_account_id"], amount=body["amount"], currency=payment["currency"],
            reason=body["reason"], requested_by="admin", requested_at=now,
        )  # fmt: skip
        succeeded = RefundSucceeded(
            firm_id=firm.id, refund_id=requested.refund_id, payment_id=payment_id,
            bank_account_id=requested.bank_account_id, amount=requested.amount, currency=requested.currency,
            succeeded_at=now + timedelta(seconds=1),
        )  # fmt: skip
        await firm.publish(requested, succeeded)
        return JSONResponse({"refund_id": requested.refund_id, "status": "pending"}, status_code=202)

    async with serving(stub, free_socket()) as url:
        monkeypatch.setattr(settings, "link_service_url", url)
        yield calls


async def test_a_bookkeepers_day_in_the_workspace(firm, served, link_service, check_and_photograph) -> None:  # type: ignore[no-untyped-def]
    trust = firm.bank_account(name="Client trust", kind="trust")
    operating = firm.bank_account(name="Operating")
    contact = firm.contact(name="Robin Smith", email="robin@smith.example")
    matter = firm.matter(contact.contact_id, name="Smith adoption", number="2026-0042")
    await firm.publish(trust, operating, contact, matter)
    await eventually(lambda: firm.knows_matter(matter.matter_id))
    payment = await firm.ready_payment(
        trust.bank_account_id,
        payer=Payer(name="Robin Smith", email="robin@smith.example"),
        reference="2026-0042",
    )
    for name, amount in (("Ada Brook", 48000), ("Cy Dunn", 9900)):
        await firm.ready_payment(
            operating.bank_account_id, payer=Payer(name=name, email="x@example.com"), amount=amount
        )
    await firm.publish(
        firm.payout(
            trust.bank_account_id, PayoutLine(type="payment", payment_id=payment.payment_id, amount=12500)
        )
    )

    async with chromium() as browser:
        context = await browser.new_context(bypass_csp=True, accept_downloads=True)  # bypass: axe's injection
        page = await context.new_page()
        await page.goto(f"{served}/payments")
        assert page.url.startswith(f"{served}/dev/sign-in")
        await check_and_photograph(page, "sign-in")
        await page.get_by_label("Firm id").fill(firm.id)
        await page.get_by_label("Admin (may refund)").check()
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{served}/payments")
        await check_and_photograph(page, "payments")

        await page.get_by_label("Search").fill("robin@smith.example")
        await page.get_by_role("button", name="Show payments").click()
        results = page.locator("table.list").first
        assert await results.locator("tbody tr").count() == 1
        await results.get_by_role("link").click()
        await page.wait_for_url(f"{served}/payments/{payment.payment_id}")
        await check_and_photograph(page, "payment")

        # the suggestion (the payer's email is the contact's), but a search for the matter to link
        await page.get_by_label("Find a matter or contact").fill("2026-0042")
        await page.get_by_role("button", name="Search", exact=True).click()
        assert await page.locator("#suggested").get_by_role("button").count() == 2  # by email, by reference
        await page.locator("#found").get_by_role("button", name="Link to matter Smith adoption").click()
        assert await page.locator("#notice").inner_text() == "Linked."
        assert "Smith adoption" in await page.locator("#linked-to").inner_text()
        await check_and_photograph(page, "payment-linked")

        await page.get_by_label("Reason to unlink").fill("paid for the Smith estate, not the adoption")
        await page.get_by_role("button", name="Unlink").click()
        assert await page.locator("#notice").inner_text() == "Unlinked."
        assert "Why: paid for the Smith estate, not the adoption" in await page.locator("main").inner_text()

        await page.get_by_label("Amount to refund (USD)").fill("20.00")
        await page.get_by_label("Reason", exact=True).fill("overpaid")
        await page.get_by_role("button", name="Refund").click()
        assert "Refund requested" in await page.locator("#notice").inner_text()
        assert link_service == [{"amount": 2000, "reason": "overpaid"}]
        tag = page.locator("#tags").get_by_text("partially refunded")
        for _ in range(100):  # the refund's events reach the read model in their own time: reload until
            if await tag.count():
                break
            await page.reload()
        assert await tag.count() == 1
        assert "$105.00" in await page.locator("#refundable").inner_text()

        await page.get_by_role("link", name="Deposits").click()
        await check_and_photograph(page, "deposits")
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Download deposits (CSV)").click()
        download = await download_info.value
        saved = await download.path()
        rows = list(csv.DictReader(io.StringIO(await asyncio.to_thread(saved.read_text))))
        assert [r["payment_id"] for r in rows] == [payment.payment_id]

        await page.get_by_role("link", name="Trust reconciliation").click()
        assert "Trust ledger" in await page.locator("main").inner_text()
        await check_and_photograph(page, "trust-reconciliation")
        await context.close()


async def tab_to(page: Any, selector: str, presses: int = 60) -> None:
    """Press Tab until the element the selector names has the focus (as someone without a mouse would)."""
    target = page.locator(selector)
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_keyboard_only_the_focus_shows_and_the_skip_link_leads_to_the_content(firm, served) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(name="Client trust", kind="trust")
    contact = firm.contact(name="Kim Park", email="kim@park.example")
    await firm.publish(account, contact)
    payment = await firm.ready_payment(
        account.bank_account_id, payer=Payer(name="Kim Park", email="kim@park.example")
    )
    focus_ring = "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }"

    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{served}/payments")
        await page.keyboard.press("Tab")  # the first stop is the skip link, visible once focused
        skip = page.get_by_role("link", name="Skip to content")
        assert await skip.evaluate("e => e === document.activeElement")
        assert await skip.evaluate(focus_ring) == ["solid", "3px"]
        assert (await skip.bounding_box() or {"x": -1})["x"] >= 0
        await tab_to(page, "#firm_id")
        await page.keyboard.type(firm.id)
        await page.keyboard.press("Enter")  # submits the sign-in form
        await page.wait_for_url(f"{served}/payments")

        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")  # skip to content: the next Tab stop is inside main
        await page.keyboard.press("Tab")
        assert await page.evaluate("() => document.querySelector('main').contains(document.activeElement)")
        await tab_to(page, "#q")
        await page.keyboard.type("kim@park.example")
        await page.keyboard.press("Enter")
        row_link = page.locator(f'a[href="/payments/{payment.payment_id}"]')
        await row_link.wait_for()
        await tab_to(page, f'a[href="/payments/{payment.payment_id}"]')
        assert await row_link.evaluate(focus_ring) == ["solid", "3px"]
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{served}/payments/{payment.payment_id}")

        suggested = page.locator("#suggested").get_by_role("button", name="Link to contact Kim Park")
        await tab_to(page, "#suggested button")
        assert await suggested.evaluate(focus_ring) == ["solid", "3px"]
        await page.keyboard.press("Enter")
        await page.locator("#notice").wait_for()
        assert await page.locator("#notice").inner_text() == "Linked."
    assert (await firm.payment(payment.payment_id))["contact_id"] == contact.contact_id


async def test_a_foreign_site_and_another_firm_change_nothing_in_chromium(firm, other_firm, served) -> None:  # type: ignore[no-untyped-def]
    """A page on another origin of the same site (so the SameSite=Strict cookie IS sent) posts the link form
    with a made-up token: refused by the Origin check and the token. Then staff of another firm, signed in,
    cannot open or find this firm's payment."""
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    action = f"{served}/payments/{payment.payment_id}/actions/link"
    evil = FastAPI()

    @evil.get("/")
    async def lure() -> HTMLResponse:
        return HTMLResponse(
            f'<!doctype html><form method="post" action="{action}">'
            f'<input type="hidden" name="matter_id" value="{matter.matter_id}">'
            '<input type="hidden" name="csrf_token" value="0000">'
            "<button>Win a prize</button></form>"
        )

    async with serving(evil, free_socket()) as evil_url, chromium() as browser:
        assert evil_url.split(":")[1] == served.split(":")[1]  # same host, another port: same site
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{served}/dev/sign-in?firm_id={firm.id}")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{served}/payments")
        await page.goto(evil_url)
        async with page.expect_response(action) as posted:
            await page.get_by_role("button", name="Win a prize").click()
        assert (await posted.value).status == 403
        assert "Forbidden" in await page.locator("h1").inner_text()
        assert (await firm.payment(payment.payment_id))["status"] == "ready"

        theirs = await browser.new_context()
        page = await theirs.new_page()
        await page.goto(f"{served}/dev/sign-in?firm_id={other_firm.id}")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{served}/payments")
        opened = await page.goto(f"{served}/payments/{payment.payment_id}")
        assert opened is not None
        assert opened.status == 404
        assert "Payment not found" in await page.locator("h1").inner_text()
        await page.goto(f"{served}/payments?status=all&q={payment.payment_id}")
        assert "No payment matches" in await page.locator("main").inner_text()
        assert await page.locator(f'a[href="/payments/{payment.payment_id}"]').count() == 0
