"""The staff workspace over HTTP: the development sign-in and its cookie, search, the link / unlink forms and
their CSRF protection, another firm's payment, refunds through link-service's API (a stub server here:
link-service's refund endpoint is not on main yet), and the deposit CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from paylinks_events import Payer, PayoutLine
from paylinks_runtime.testing import auth_header, eventually, free_socket, serving
from reconciliation_service.app import create_app
from reconciliation_service.config import Settings
from reconciliation_service.workspace import routes

ORIGIN = {"origin": "http://testserver"}


@pytest.fixture
async def browser(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, talking to the running app like a browser would."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as fresh:
        yield fresh


async def sign_in(browser: httpx.AsyncClient, firm_id: str, role: str = "staff") -> None:
    response = await browser.post(
        "/dev/sign-in", data={"firm_id": firm_id, "user_id": f"{role}-sam", "role": role}, headers=ORIGIN
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert all(part in cookie for part in ("httponly", "samesite=strict", "path=/"))


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def test_unsigned_visitors_are_sent_to_the_development_sign_in(browser) -> None:  # type: ignore[no-untyped-def]
    response = await browser.get("/payments", params={"status": "all"})
    assert response.status_code == 303
    assert response.headers["location"] == "/dev/sign-in?next=%2Fpayments%3Fstatus%3Dall"
    form = await browser.get("/dev/sign-in")
    assert form.status_code == 200
    assert "style-src 'self'" in form.headers["content-security-policy"]
    assert "script-src" not in form.headers["content-security-policy"]  # default-src 'none': no script


async def test_find_by_email_link_then_unlink_with_a_reason(firm, browser) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(name="Client trust", kind="trust")
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(
        account.bank_account_id, payer=Payer(name="Lee Wong", email="lee@wong.example")
    )
    await firm.ready_payment(account.bank_account_id)  # someone else's
    await sign_in(browser, firm.id)

    listed = await browser.get("/payments", params={"q": "LEE@wong.example"})
    assert listed.status_code == 200
    assert f"/payments/{payment.payment_id}" in listed.text
    assert listed.text.count('href="/payments/') == 1
    assert "$125.00" in listed.text
    page = await browser.get(f"/payments/{payment.payment_id}")
    linked = await browser.post(
        f"/payments/{payment.payment_id}/actions/link",
        data={"csrf_token": csrf_of(page), "matter_id": matter.matter_id},
        headers=ORIGIN,
    )
    assert (linked.status_code, linked.headers["location"]) == (
        303,
        f"/payments/{payment.payment_id}?done=linked",
    )
    assert (await firm.payment(payment.payment_id))["linked_by"] == "staff-sam"

    page = await browser.get(f"/payments/{payment.payment_id}")
    assert "Reason to unlink" in page.text
    no_reason = await browser.post(
        f"/payments/{payment.payment_id}/actions/unlink", data={"csrf_token": csrf_of(page)}, headers=ORIGIN
    )
    assert no_reason.status_code == 422
    unlinked = await browser.post(
        f"/payments/{payment.payment_id}/actions/unlink",
        data={"csrf_token": csrf_of(page), "reason": "wrong matter: it is the Wong estate"},
        headers=ORIGIN,
    )
    assert unlinked.status_code == 303
    after = await browser.get(f"/payments/{payment.payment_id}")
    assert "Why: wrong matter: it is the Wong estate" in after.text
    assert "by staff-sam" in after.text
    assert (await firm.payment(payment.payment_id))["status"] == "ready"


async def test_a_post_without_the_right_csrf_token_or_origin_is_refused_and_changes_nothing(
    firm, other_firm, browser, app
) -> None:
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    await sign_in(browser, firm.id)
    action = f"/payments/{payment.payment_id}/actions/link"
    token = csrf_of(await browser.get(f"/payments/{payment.payment_id}"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as other:
        await sign_in(other, firm.id)
        someone_elses = csrf_of(await other.get(f"/payments/{payment.payment_id}"))

    for data, headers in (
        ({"matter_id": matter.matter_id}, ORIGIN),
        ({"matter_id": matter.matter_id, "csrf_token": ""}, ORIGIN),
        ({"matter_id": matter.matter_id, "csrf_token": someone_elses}, ORIGIN),
        ({"matter_id": matter.matter_id, "csrf_token": token}, {"origin": "https://evil.example"}),
    ):
        refused = await browser.post(action, data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
    assert (await firm.payment(payment.payment_id))["status"] == "ready"
    # every other form of the payment's page too, without its token or with another session's
    for other_action, fields in (
        ("unlink", {"reason": "x"}),
        ("relink", {"target": f"matter:{matter.matter_id}", "reason": "x"}),
        ("refund", {"amount": "1", "reason": "x", "idempotency_key": "k"}),
    ):
        for token_sent in ({}, {"csrf_token": someone_elses}):
            url = f"/payments/{payment.payment_id}/actions/{other_action}"
            refused = await browser.post(url, data=fields | token_sent, headers=ORIGIN)
            assert refused.status_code == 403, (other_action, token_sent)
    # the Bearer token of the SSO proxy needs the token bound to it just the same
    bearer = await browser.post(action, data={"matter_id": matter.matter_id}, headers=firm.headers | ORIGIN)
    assert bearer.status_code == 403
    assert (await firm.payment(payment.payment_id))["status"] == "ready"
    # and with the token of a page rendered for that Bearer token, the form works (the SSO path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as sso:
        page = await sso.get(f"/payments/{payment.payment_id}", headers=firm.headers)
        done = await sso.post(
            action,
            data={"matter_id": matter.matter_id, "csrf_token": csrf_of(page)},
            headers=firm.headers | ORIGIN,
        )
    assert done.status_code == 303
    assert (await firm.payment(payment.payment_id))["status"] == "linked"


async def test_another_firms_payment_is_404(firm, other_firm, client) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    page = f"/payments/{payment.payment_id}"
    assert (await client.get(page, headers=firm.headers)).status_code == 200
    assert (await client.get(page, headers=other_firm.headers)).status_code == 404
    theirs = await client.get(
        "/payments", params={"status": "all", "q": payment.payment_id}, headers=other_firm.headers
    )
    assert f"/payments/{payment.payment_id}" not in theirs.text
    assert "No payment matches" in theirs.text
    assert (await client.get(page, headers=auth_header(firm.id, roles=("viewer",)))).status_code == 403


async def test_other_firms_staff_change_and_export_nothing(firm, other_firm, browser, link_service) -> None:  # type: ignore[no-untyped-def]
    """Signed in to their own firm with a valid CSRF token, staff (admins even) of another firm post every
    form against this firm's payment: not found, nothing changes, link-service is never asked; their
    deposits CSV holds none of this firm's lines."""
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    await firm.publish(
        firm.payout(
            account.bank_account_id, PayoutLine(type="payment", payment_id=payment.payment_id, amount=12500)
        )
    )
    await eventually(lambda: _paid_out(firm, payment.payment_id))
    await sign_in(browser, other_firm.id, role="admin")
    token = csrf_of(await browser.get("/payments"))
    base = f"/payments/{payment.payment_id}/actions"
    for action, data in (
        ("link", {"matter_id": matter.matter_id}),
        ("unlink", {"reason": "not ours"}),
        ("relink", {"target": f"matter:{matter.matter_id}", "reason": "not ours"}),
        ("refund", {"amount": "1.00", "reason": "not ours", "idempotency_key": "k1"}),
    ):
        refused = await browser.post(f"{base}/{action}", data=data | {"csrf_token": token}, headers=ORIGIN)
        assert refused.status_code == 404, action
        assert "Payment not found" in refused.text
    after = await firm.payment(payment.payment_id)
    assert (after["status"], after["matter_id"], after["refunded_amount"]) == ("ready", None, 0)
    assert link_service == []
    theirs = await browser.get("/deposits.csv")
    assert theirs.status_code == 200
    assert payment.payment_id not in theirs.text
    assert payment.payment_id not in (await browser.get("/payments.csv")).text


async def test_filters_tags_amount_search_and_keyset_paging(firm, browser, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    card, echeck = firm.bank_account(name="Operating"), firm.bank_account(name="Trust", kind="trust")
    await firm.publish(card, echeck)
    refunded = await firm.ready_payment(card.bank_account_id, amount=123456)
    refund = firm.refund_requested(refunded, 2000)
    await firm.publish(refund, firm.refund_succeeded(refund))
    bank = await firm.ready_payment(echeck.bank_account_id, method="echeck", card_brand=None, last4=None)
    await eventually(lambda: _has_refund(firm, refunded.payment_id))
    await sign_in(browser, firm.id)

    partially = await browser.get("/payments", params={"status": "partially_refunded"})
    assert refunded.payment_id in partially.text
    assert bank.payment_id not in partially.text
    assert "partially refunded" in partially.text
    by_amount = await browser.get("/payments", params={"status": "all", "q": "1,234.56"})
    assert refunded.payment_id in by_amount.text
    assert bank.payment_id not in by_amount.text
    by_method = await browser.get("/payments", params={"status": "all", "method": "echeck"})
    assert bank.payment_id in by_method.text
    assert refunded.payment_id not in by_method.text
    by_account = await browser.get("/payments", params={"bank_account_id": echeck.bank_account_id})
    assert bank.payment_id in by_account.text
    assert refunded.payment_id not in by_account.text

    monkeypatch.setattr(routes, "PAGE_SIZE", 1)
    first = await browser.get("/payments", params={"status": "all"})
    assert bank.payment_id in first.text
    assert refunded.payment_id not in first.text
    older = re.search(r'href="(/payments\?[^"]*before=[^"]+)">Older payments', first.text)
    assert older
    second = await browser.get(older.group(1).replace("&amp;", "&"))
    assert refunded.payment_id in second.text
    assert bank.payment_id not in second.text


async def test_every_status_filter_the_date_range_search_and_the_default_queue(firm, browser) -> None:  # type: ignore[no-untyped-def]
    """One payment in each state; each status filter lists exactly its own, on the database's conditions."""
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    acct = account.bank_account_id
    pending = firm.received(acct, payer=Payer(name="Quinn Pending", email="q@example.com"))
    failed = firm.received(acct)
    await firm.publish(pending, failed, firm.failed(failed))
    ready = await firm.ready_payment(acct, reference="INV-7731")
    linked = await firm.ready_payment(acct)
    refunded = await firm.ready_payment(acct)
    disputed = await firm.ready_payment(acct)
    charged_back = await firm.ready_payment(acct)
    returned = await firm.ready_payment(acct, method="echeck", card_brand=None, last4=None)
    old = await firm.ready_payment(acct, received_at=datetime.now(UTC) - timedelta(days=10))
    refund = firm.refund_requested(refunded, refunded.amount)
    lost = firm.disputed(charged_back)
    await firm.publish(
        refund, firm.refund_succeeded(refund), firm.disputed(disputed),
        lost, firm.dispute_closed(lost, "lost"), firm.returned(returned),
    )  # fmt: skip
    response = await firm.client.post(
        f"/v1/payments/{linked.payment_id}/link", json={"matter_id": matter.matter_id}, headers=firm.headers
    )
    assert response.status_code == 200
    await firm.wait_for_status(failed.payment_id, "failed")
    for done, field, value in (
        (refunded, "refunded_amount", refunded.amount), (disputed, "dispute", "open"),
        (charged_back, "dispute", "lost"), (returned, "returned", returned.amount),
    ):  # fmt: skip
        await eventually(
            lambda done=done, field=field, value=value: _shows(firm, done.payment_id, field, value)
        )
    await sign_in(browser, firm.id)

    async def listed(**params: str) -> set[str]:
        page = await browser.get("/payments", params=params)
        assert page.status_code == 200
        return set(re.findall(r'href="/payments/([0-9a-f-]{36})"', page.text))

    everyone = {p.payment_id for p in (pending, failed, ready, linked, refunded, disputed, charged_back)}
    everyone |= {returned.payment_id, old.payment_id}
    assert await listed(status="all") == everyone
    queue = await listed()  # the default: the unlinked queue, money staff must still link
    assert linked.payment_id not in queue
    assert failed.payment_id not in queue  # it moved no money: nothing to link
    assert {pending.payment_id, ready.payment_id, old.payment_id} <= await listed()
    assert await listed(status="pending") == {pending.payment_id}
    assert await listed(status="linked") == {linked.payment_id}
    assert await listed(status="failed") == {failed.payment_id}
    assert await listed(status="refunded") == {refunded.payment_id}
    assert await listed(status="disputed") == {disputed.payment_id}
    assert await listed(status="chargeback") == {charged_back.payment_id}
    assert await listed(status="returned") == {returned.payment_id}
    assert ready.payment_id in await listed(status="ready")
    assert linked.payment_id not in await listed(status="ready")

    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).date()
    around = {"from": str(ten_days_ago - timedelta(days=1)), "to": str(ten_days_ago + timedelta(days=1))}
    assert await listed(status="all", **around) == {old.payment_id}
    assert old.payment_id not in await listed(status="all", **{"from": str(datetime.now(UTC).date())})
    assert await listed(status="all", q="quinn pend") == {pending.payment_id}  # payer name
    assert await listed(status="all", q="inv-7731") == {ready.payment_id}  # reference
    assert await listed(status="all", q=disputed.payment_id) == {disputed.payment_id}  # payment id


async def test_how_long_unlinked_payments_waited_and_the_totals_per_account(firm, browser) -> None:  # type: ignore[no-untyped-def]
    trust, operating = (
        firm.bank_account(name="Client trust", kind="trust"),
        firm.bank_account(name="Operating"),
    )
    await firm.publish(trust, operating)
    _, matter = await firm.practice()
    days_ago = datetime.now(UTC) - timedelta(days=3, hours=2)
    waited = await firm.ready_payment(trust.bank_account_id, received_at=days_ago, amount=40000)
    await firm.ready_payment(operating.bank_account_id, received_at=days_ago + timedelta(days=1), amount=1500)
    await firm.ready_payment(operating.bank_account_id, amount=2500)
    linked = await firm.ready_payment(trust.bank_account_id, amount=99900)
    failed = firm.received(operating.bank_account_id)
    await firm.publish(failed, firm.failed(failed))
    await firm.wait_for_status(failed.payment_id, "failed")
    response = await firm.client.post(
        f"/v1/payments/{linked.payment_id}/link", json={"matter_id": matter.matter_id}, headers=firm.headers
    )
    assert response.status_code == 200
    await sign_in(browser, firm.id)
    page = (await browser.get("/payments")).text

    row = re.search(
        rf'<tr>\s*<td data-label="Received"><a href="/payments/{waited.payment_id}".*?</tr>', page, re.S
    )
    assert row
    assert '<td data-label="Waiting">3 days</td>' in row.group(0)
    totals = page[page.index('id="totals-heading"') :]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", totals, re.S)]
    assert cells == [
        *("Client trust (trust)", "ready", "1", "$400.00", "3 days"),  # linked, failed: not waiting
        *("Operating (operating)", "ready", "2", "$40.00", "2 days"),
    ] or cells == [
        *("Operating (operating)", "ready", "2", "$40.00", "2 days"),
        *("Client trust (trust)", "ready", "1", "$400.00", "3 days"),
    ]


async def _shows(firm, payment_id: str, field: str, value: object) -> bool:  # type: ignore[no-untyped-def]
    """The read model shows the refund, the dispute's status or the return (by its amount)."""
    shown = (await firm.payment(payment_id) or {}).get(field)
    if isinstance(shown, dict):
        shown = shown.get("status") if field == "dispute" else shown.get("amount")
    return bool(shown == value)


async def _has_refund(firm, payment_id: str) -> bool:  # type: ignore[no-untyped-def]
    return bool((await firm.payment(payment_id) or {}).get("refunded_amount"))


async def test_local_time_in_the_chosen_zone(firm, browser) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    await sign_in(browser, firm.id)
    shown = await browser.get(f"/payments/{payment.payment_id}", params={"tz": "Asia/Tokyo"})
    assert "Asia/Tokyo" in shown.text
    local = payment.received_at.astimezone(routes.present.zone("Asia/Tokyo"))
    assert f"{local:%H:%M}" in shown.text
    assert "Asia/Tokyo" in (await browser.get(f"/payments/{payment.payment_id}")).text  # remembered


# --- refunds through link-service (a stub of its API) ---------------------------------------------------


@pytest.fixture
async def link_service(settings: Settings, monkeypatch) -> AsyncIterator[list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """A stand-in for link-service's POST /v1/payments/{id}/refunds: records each call; 202 up to 50.00."""
    calls: list[dict[str, Any]] = []
    stub = FastAPI()

    @stub.post("/v1/payments/{payment_id}/refunds")
    async def refunds(payment_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        calls.append({"payment_id": payment_id, "body": body, "headers": dict(request.headers)})
        if body["amount"] > 5000:
            error = {"code": "amount_exceeds_refundable", "message": "at most 50.00 USD can be refunded"}
            return JSONResponse({"error": error}, status_code=422)
        return JSONResponse({"refund_id": "r1", "payment_id": payment_id, "amount": body["amount"]}, 202)

    async with serving(stub, free_socket()) as url:
        monkeypatch.setattr(settings, "link_service_url", url)
        yield calls


async def test_admins_refund_through_link_service_with_their_own_token(firm, browser, link_service) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    await sign_in(browser, firm.id, role="admin")
    page = await browser.get(f"/payments/{payment.payment_id}")
    assert 'Up to <strong id="refundable">$125.00</strong>' in page.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key
    form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1), "reason": "overpaid"}
    action = f"/payments/{payment.payment_id}/actions/refund"

    too_much = await browser.post(action, data=form | {"amount": "60"}, headers=ORIGIN)
    assert too_much.status_code == 422
    assert "at most 50.00 USD can be refunded" in too_much.text
    done = await browser.post(action, data=form | {"amount": "20.50"}, headers=ORIGIN)
    assert done.status_code == 303
    call = link_service[-1]
    assert (call["payment_id"], call["body"]) == (payment.payment_id, {"amount": 2050, "reason": "overpaid"})
    assert call["headers"]["idempotency-key"] == key.group(1)
    assert call["headers"]["authorization"] == f"Bearer {browser.cookies['workspace_session']}"
    for amount in ("", "0", "12.345", "-3", "ten"):
        bad = await browser.post(action, data=form | {"amount": amount}, headers=ORIGIN)
        assert bad.status_code == 422, amount
    assert len(link_service) == 2


async def test_staff_who_are_not_admins_cannot_refund(firm, browser, link_service) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    await sign_in(browser, firm.id)
    page = await browser.get(f"/payments/{payment.payment_id}")
    assert "Amount to refund" not in page.text
    refused = await browser.post(
        f"/payments/{payment.payment_id}/actions/refund",
        data={"csrf_token": csrf_of(page), "idempotency_key": "k", "amount": "1", "reason": "x"},
        headers=ORIGIN,
    )
    assert refused.status_code == 403
    assert link_service == []


# --- deposits, and production -----------------------------------------------------------------------------


async def test_the_deposit_csv_downloads_with_the_session(firm, browser) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(name="Client trust", kind="trust")
    await firm.publish(account)
    payment = await firm.ready_payment(account.bank_account_id)
    payout = firm.payout(
        account.bank_account_id, PayoutLine(type="payment", payment_id=payment.payment_id, amount=12500)
    )
    await firm.publish(payout)
    await eventually(lambda: _paid_out(firm, payment.payment_id))
    await sign_in(browser, firm.id)
    arrival = f"{payout.arrival_date:%a} {payout.arrival_date.day} {payout.arrival_date:%b %Y}"
    shown = await browser.get(f"/payments/{payment.payment_id}")  # the payment names its deposit, in words
    assert f'<a href="/deposits#payout-{payout.payout_id}">$125.00 arriving {arrival}</a>' in shown.text
    page = await browser.get("/deposits")
    assert f"$125.00 into Client trust on {arrival}" in page.text
    assert f'id="payout-{payout.payout_id}"' in page.text
    assert 'href="/deposits.csv"' in page.text
    download = await browser.get("/deposits.csv")
    assert download.headers["content-disposition"] == 'attachment; filename="deposits.csv"'
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["payout_id"], r["payment_id"]) for r in rows] == [(payout.payout_id, payment.payment_id)]
    _, matter = await firm.practice()
    linked = await firm.client.post(
        f"/v1/payments/{payment.payment_id}/link", json={"matter_id": matter.matter_id}, headers=firm.headers
    )
    assert linked.status_code == 200
    trust = await browser.get("/trust-reconciliation")
    assert trust.status_code == 200
    assert "Trust ledger" in trust.text
    assert "<dt>Fees charged to trust</dt><dd>none</dd>" in trust.text
    download = f'href="/deposits.csv?bank_account_id={account.bank_account_id}"'
    assert download in trust.text
    mine = await browser.get("/deposits.csv", params={"bank_account_id": account.bank_account_id})
    assert [r["payout_id"] for r in csv.DictReader(io.StringIO(mine.text))] == [payout.payout_id]
    payments = await browser.get("/payments.csv")
    assert payments.headers["content-disposition"] == 'attachment; filename="payments.csv"'
    assert [r["payment_id"] for r in csv.DictReader(io.StringIO(payments.text))] == [payment.payment_id]
    assert f"<td>Estate of Smith · {matter.number}</td><td>Dana Client</td>" in trust.text  # names, not ids


async def _paid_out(firm, payment_id: str) -> bool:  # type: ignore[no-untyped-def]
    return bool((await firm.payment(payment_id) or {}).get("payout_id"))


async def test_the_development_sign_in_is_refused_in_production() -> None:
    strong = {name: "x" * 48 for name in ("auth_jwt_secret", "payment_grant_secret")}
    app = create_app(Settings(paylinks_env="production", **strong))  # not started: no database needed
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        assert (await c.get("/dev/sign-in")).status_code == 404
        posted = await c.post(
            "/dev/sign-in", data={"firm_id": "f", "user_id": "u", "role": "admin"}, headers=ORIGIN
        )
        assert posted.status_code == 404
        assert "set-cookie" not in posted.headers
        unsigned = await c.get("/payments")
        assert unsigned.status_code == 401  # no redirect to a sign-in that does not exist
        assert "dev/sign-in" not in unsigned.text


async def test_relink_moves_the_payment_with_a_reason_and_a_bad_choice_changes_nothing(firm, browser) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, first = await firm.practice()
    other_contact, _ = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    linked = await firm.client.post(
        f"/v1/payments/{payment.payment_id}/link", json={"matter_id": first.matter_id}, headers=firm.headers
    )
    assert linked.status_code == 200
    await sign_in(browser, firm.id)
    page = await browser.get(f"/payments/{payment.payment_id}", params={"q": other_contact.name})
    assert f'value="contact:{other_contact.contact_id}"' in page.text
    action = f"/payments/{payment.payment_id}/actions/relink"
    form = {"csrf_token": csrf_of(page), "reason": "the payer is the other client"}

    for target in ("contact:nope", "matter:", "judge:x", ""):
        refused = await browser.post(action, data=form | {"target": target}, headers=ORIGIN)
        assert refused.status_code == 422, target
    no_reason = form | {"reason": " ", "target": f"contact:{other_contact.contact_id}"}
    assert (await browser.post(action, data=no_reason, headers=ORIGIN)).status_code == 422
    assert (await firm.payment(payment.payment_id))["matter_id"] == first.matter_id

    moved = await browser.post(
        action, data=form | {"target": f"contact:{other_contact.contact_id}"}, headers=ORIGIN
    )
    assert moved.status_code == 303
    after = await firm.payment(payment.payment_id)
    assert (after["status"], after["matter_id"], after["contact_id"]) == (
        "linked",
        None,
        other_contact.contact_id,
    )
    shown = await browser.get(f"/payments/{payment.payment_id}")
    assert "Why: the payer is the other client" in shown.text


async def test_sign_in_goes_back_only_to_this_site_and_sign_out_needs_the_token(firm, browser) -> None:  # type: ignore[no-untyped-def]
    for target, landing in (
        ("/deposits", "/deposits"),
        ("//evil.example/x", "/payments"),
        ("https://evil.example", "/payments"),
    ):
        response = await browser.post(
            "/dev/sign-in", data={"firm_id": firm.id, "user_id": "u", "next": target}, headers=ORIGIN
        )
        assert response.headers["location"] == landing, target
    foreign = await browser.post(
        "/dev/sign-in", data={"firm_id": firm.id, "user_id": "u"}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    page = await browser.get("/payments")
    assert (await browser.post("/sign-out", headers=ORIGIN)).status_code == 403
    assert (await browser.get("/payments")).status_code == 200  # still signed in
    out = await browser.post("/sign-out", data={"csrf_token": csrf_of(page)}, headers=ORIGIN)
    assert out.status_code == 303
    assert (await browser.get("/payments")).status_code == 303  # to the sign-in again
