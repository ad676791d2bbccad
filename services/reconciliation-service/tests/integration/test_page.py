"""The staff page behind the email button: the grant exchanged for a cookie, escaping, the same-origin check,
search and link; then the whole flow in a real headless Chromium against the app served on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from paylinks_events import Payer
from paylinks_runtime.auth import CLOCK_LEEWAY, issue_payment_grant
from paylinks_runtime.testing import GRANT_KEYS, auth_header, chromium

HOSTILE = '<script>alert("pwned")</script>'


def grant(firm, payment_id: str, ttl: timedelta = timedelta(minutes=30)) -> str:  # type: ignore[no-untyped-def]
    return issue_payment_grant(
        GRANT_KEYS, firm_id=firm.id, payment_id=payment_id, recipient="office@firm.example", ttl=ttl
    )


@pytest.fixture
async def browser_client(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, talking to the already running app."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as fresh:
        yield fresh


async def open_with_grant(browser_client, firm, payment_id: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    page = f"/payments/{payment_id}/link"
    exchange = await browser_client.get(page, params={"grant": grant(firm, payment_id)})
    assert exchange.status_code == 303
    assert exchange.headers["location"] == page
    return await browser_client.get(page)


async def test_the_grant_becomes_a_strict_http_only_cookie_for_this_page_only(firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    page = f"/payments/{payment.payment_id}/link"

    exchange = await browser_client.get(page, params={"grant": grant(firm, payment.payment_id)})
    assert exchange.status_code == 303
    assert exchange.headers["location"] == page
    cookie = exchange.headers["set-cookie"].lower()
    assert all(part in cookie for part in ("httponly", "samesite=strict", f"path={page.lower()}"))
    assert exchange.headers["referrer-policy"] == "no-referrer"

    shown = await browser_client.get(page)
    assert shown.status_code == 200
    assert "text/html" in shown.headers["content-type"]
    assert "Pat Payer" in shown.text
    assert "$125.00" in shown.text
    assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
    assert shown.headers["cache-control"] == "no-store"


async def test_the_emailed_page_looks_like_the_workspace_and_says_when_in_words(firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    """The page the email button lands on: the workspace's stylesheet under a strict CSP (no inline style),
    times in words in the zone the staff member chose in the workspace, never raw ISO timestamps."""
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    browser_client.cookies.set("workspace_tz", "Asia/Tokyo")
    shown = await open_with_grant(browser_client, firm, payment.payment_id)
    assert shown.status_code == 200
    policy = shown.headers["content-security-policy"]
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert '<link rel="stylesheet" href="/workspace.css">' in shown.text
    assert "<style" not in shown.text
    local = payment.received_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{local:%a} {local.day} {local:%b %Y, %H:%M}" in shown.text
    assert "Asia/Tokyo" in shown.text
    assert payment.received_at.isoformat() not in shown.text
    assert str(payment.received_at) not in shown.text


async def test_staff_signed_in_to_the_workspace_go_to_the_payments_page(firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    signed_in = await browser_client.post(
        "/dev/sign-in", data={"firm_id": firm.id, "user_id": "sam"}, headers={"origin": "http://testserver"}
    )
    assert signed_in.status_code == 303
    opened = await browser_client.get(f"/payments/{payment.payment_id}/link")
    assert (opened.status_code, opened.headers["location"]) == (303, f"/payments/{payment.payment_id}")
    # the email button's grant still lands on its own page, signed in or not
    granted = await browser_client.get(
        f"/payments/{payment.payment_id}/link", params={"grant": grant(firm, payment.payment_id)}
    )
    assert granted.headers["location"] == f"/payments/{payment.payment_id}/link"


async def test_a_bad_missing_or_foreign_grant_is_401(firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    other = await firm.ready_payment(account.bank_account_id)
    page = f"/payments/{payment.payment_id}/link"
    for params in (
        {"grant": "tampered"},
        {"grant": grant(firm, other.payment_id)},
        {"grant": grant(firm, payment.payment_id, ttl=-(CLOCK_LEEWAY + timedelta(seconds=1)))},
    ):
        response = await browser_client.get(page, params=params)
        assert response.status_code == 401
        assert "<h1>" in response.text
        assert "set-cookie" not in response.headers
    assert (await browser_client.get(page)).status_code == 401
    # a grant for another payment, sent as the cookie of this page, is refused too
    browser_client.cookies.set("payment_link_grant", grant(firm, other.payment_id))
    assert (await browser_client.get(page)).status_code == 401


async def test_staff_tokens_open_the_page_and_other_firms_see_404(
    firm, other_firm, client, browser_client
) -> None:
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    page = f"/payments/{payment.payment_id}/link"
    assert (await client.get(page, headers=firm.headers)).status_code == 200
    assert (await client.get(page, headers=auth_header(firm.id, roles=("viewer",)))).status_code == 403
    assert (await client.get(page, headers=other_firm.headers)).status_code == 404
    foreign_grant = issue_payment_grant(
        GRANT_KEYS, firm_id=other_firm.id, payment_id=payment.payment_id, recipient="x@other.example"
    )
    await browser_client.get(page, params={"grant": foreign_grant})
    assert (await browser_client.get(page)).status_code == 404


async def test_hostile_payer_input_is_escaped(firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(
        account.bank_account_id,
        payer=Payer(name=HOSTILE, email="x@example.com"),
        reference='"><img src=x onerror=alert(1)>',
    )
    shown = await open_with_grant(browser_client, firm, payment.payment_id)
    assert HOSTILE not in shown.text
    assert "<img src=x" not in shown.text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in shown.text


async def test_search_then_link_from_the_page(firm, other_firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    contact = firm.contact(name="Robin Smith")
    matter = firm.matter(contact.contact_id, name="Smith adoption", number="2026-0042")
    await firm.publish(account, contact, matter)
    await other_firm.publish(other_firm.matter("c", name="Smith secret"))
    payment = await firm.ready_payment(account.bank_account_id)
    await open_with_grant(browser_client, firm, payment.payment_id)
    page = f"/payments/{payment.payment_id}/link"

    found = await browser_client.get(page, params={"q": "smith"})
    assert "Smith adoption" in found.text
    assert "Robin Smith" in found.text
    assert "Smith secret" not in found.text
    assert "2026-0042" in (await browser_client.get(page, params={"q": "2026-00"})).text

    origin = {"origin": "http://testserver"}
    linked = await browser_client.post(page, data={"matter_id": matter.matter_id}, headers=origin)
    assert linked.status_code == 303
    assert linked.headers["location"] == page
    assert "Linked to" in (await browser_client.get(page)).text
    assert (await firm.payment(payment.payment_id))["linked_by"] == "office@firm.example"

    # the grant was spent on that link: no second action, no more search
    again = await browser_client.post(page, data={"contact_id": contact.contact_id}, headers=origin)
    assert again.status_code == 403
    assert "already used" in again.text
    assert "Link to contact" not in (await browser_client.get(page, params={"q": "smith"})).text


async def test_forms_from_another_origin_or_with_bad_input_are_refused(firm, browser_client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    await open_with_grant(browser_client, firm, payment.payment_id)
    page = f"/payments/{payment.payment_id}/link"

    for headers in (
        {"origin": "https://evil.example"},
        {"referer": "https://evil.example/x"},
        {"origin": "null"},
    ):
        response = await browser_client.post(page, data={"matter_id": matter.matter_id}, headers=headers)
        assert response.status_code == 403, headers
    unknown = await browser_client.post(
        page, data={"matter_id": "nope"}, headers={"origin": "http://testserver"}
    )
    assert unknown.status_code == 422
    assert "no such matter" in unknown.text
    neither = await browser_client.post(page, data={}, headers={"origin": "http://testserver"})
    assert neither.status_code == 422
    assert (await firm.payment(payment.payment_id))["status"] == "ready"


# --- a real browser ---------------------------------------------------------------------------------------


async def test_staff_link_a_payment_in_a_headless_browser(firm, served, check_and_photograph) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(name="Client trust", kind="trust")
    contact = firm.contact(name="Robin Smith")
    matter = firm.matter(contact.contact_id, name="Smith adoption", number="2026-0042")
    await firm.publish(account, contact, matter)
    payment = await firm.ready_payment(
        account.bank_account_id, payer=Payer(name="Robin Smith", email="x@example.com"), reference=HOSTILE
    )
    page_url = f"{served}/payments/{payment.payment_id}/link"

    async with chromium() as browser:
        context = await browser.new_context(bypass_csp=True)  # bypass: axe's injection
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await page.goto(f"{page_url}?grant={grant(firm, payment.payment_id)}")
        assert page.url == page_url  # the grant left the address bar
        await check_and_photograph(page, "emailed-page")
        assert await page.locator("#status").inner_text() == "ready"
        assert HOSTILE in await page.locator("main").inner_text()  # shown as text, never run

        await page.get_by_label("Name or matter number").fill("2026-0042")
        await page.get_by_role("button", name="Search").click()
        await page.get_by_role("button", name="Link to matter Smith adoption").click()

        await page.wait_for_selector("#result")
        assert "Smith adoption" in await page.locator("#result").inner_text()
        assert await page.locator("#status").inner_text() == "linked"
        assert page.url == page_url
        assert dialogs == []
    linked = await firm.payment(payment.payment_id)
    assert (linked["status"], linked["matter_id"]) == ("linked", matter.matter_id)
