"""Staff endpoints for bank accounts: registration, listing, the permanent link and its QR code."""

from __future__ import annotations

import io
import json

import zxingcpp
from PIL import Image

from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, auth_header, header

from .conftest import token_of


async def test_an_admin_registers_a_bank_account_and_it_is_published(service) -> None:
    firm = service.new_firm()
    async with TopicWatcher(Topic.LINK) as watcher:
        response = await service.client.post(
            "/v1/bank-accounts",
            json={"name": "IOLTA Trust", "kind": "trust", "currency": "USD"},
            headers=auth_header(firm, roles=("staff", "admin")),
        )
        assert response.status_code == 201
        body = response.json()
        assert body["name"] == "IOLTA Trust"
        assert body["kind"] == "trust"
        assert body["currency"] == "USD"
        [record] = await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm)
    assert header(record, "ce_type") == "BankAccountRegistered"
    assert header(record, "ce_subject") == body["bank_account_id"] == record.key.decode()
    assert json.loads(record.value)["kind"] == "trust"


async def test_registering_needs_the_admin_role_and_a_valid_body(service) -> None:
    firm = service.new_firm()
    good = {"name": "Operating", "kind": "operating"}
    no_token = await service.client.post("/v1/bank-accounts", json=good)
    staff_only = await service.client.post("/v1/bank-accounts", json=good, headers=auth_header(firm))
    assert (no_token.status_code, staff_only.status_code) == (401, 403)
    admin = auth_header(firm, roles=("staff", "admin"))
    for bad in (
        {"name": "X", "kind": "savings"},
        {"name": "", "kind": "trust"},
        {"name": "X", "kind": "trust", "currency": "usd"},
        {"kind": "trust"},
    ):
        response = await service.client.post("/v1/bank-accounts", json=bad, headers=admin)
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "validation_error"


async def test_staff_list_only_their_firms_accounts(service) -> None:
    firm, other = service.new_firm(), service.new_firm()
    mine = await service.register_account(firm, name="Trust A")
    await service.register_account(other, name="Theirs")
    response = await service.client.get("/v1/bank-accounts", headers=auth_header(firm))
    assert response.status_code == 200
    assert [(a["bank_account_id"], a["name"]) for a in response.json()["items"]] == [(mine, "Trust A")]
    assert (await service.client.get("/v1/bank-accounts")).status_code == 401


async def test_the_account_link_is_the_same_every_time_and_issued_once(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    async with TopicWatcher(Topic.LINK) as watcher:
        first = await service.account_link(firm, account_id)
        second = await service.account_link(firm, account_id)
        [issued] = await watcher.wait_for(
            lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == "LinkIssued"
        )
    assert first == second
    assert first["kind"] == "bank_account"
    assert first["url"].startswith(service.settings.public_base_url + "/pay/")
    assert len(token_of(first["url"])) >= 22  # >= 128 bits, base64url
    data = json.loads(issued.value)
    assert data["link_id"] == first["link_id"]
    assert data["bill_id"] is None
    # Contract v2: the pay link is a bearer capability, never broadcast.
    assert "url" not in data
    assert token_of(first["url"]).encode() not in issued.value
    assert token_of(first["url"]) not in first["link_id"]


async def test_another_firms_or_an_unknown_account_is_not_found(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    stranger = auth_header(service.new_firm())
    for path in (f"/v1/bank-accounts/{account_id}/payment-link", "/v1/bank-accounts/nope/payment-link"):
        response = await service.client.post(path, headers=stranger)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    qr = await service.client.get(f"/v1/bank-accounts/{account_id}/qr-code", headers=stranger)
    assert qr.status_code == 404
    assert (await service.client.post(f"/v1/bank-accounts/{account_id}/payment-link")).status_code == 401
    assert (await service.client.get(f"/v1/bank-accounts/{account_id}/qr-code")).status_code == 401


async def test_the_png_qr_code_decodes_to_the_account_link_marked_as_qr(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    link = await service.account_link(firm, account_id)
    response = await service.client.get(
        f"/v1/bank-accounts/{account_id}/qr-code", params={"format": "png"}, headers=auth_header(firm)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))
    assert decoded.text == link["url"] + "?via=qr"


async def test_the_svg_and_pdf_qr_codes(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm, name="Smith Trust")
    headers = auth_header(firm)
    svg = await service.client.get(f"/v1/bank-accounts/{account_id}/qr-code?format=svg", headers=headers)
    pdf = await service.client.get(f"/v1/bank-accounts/{account_id}/qr-code?format=pdf", headers=headers)
    bad = await service.client.get(f"/v1/bank-accounts/{account_id}/qr-code?format=gif", headers=headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert b"Pay Smith Trust" in svg.content
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert bad.status_code == 422


async def test_staff_endpoints_need_the_staff_role(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    outsider = auth_header(firm, roles=("viewer",))
    responses = [
        await service.client.get("/v1/bank-accounts", headers=outsider),
        await service.client.post(f"/v1/bank-accounts/{account_id}/payment-link", headers=outsider),
        await service.client.get(f"/v1/bank-accounts/{account_id}/qr-code", headers=outsider),
        await service.client.post(
            "/v1/bills/b-1/payment-link", json={"bank_account_id": account_id}, headers=outsider
        ),
    ]
    assert [r.status_code for r in responses] == [403] * 4
    assert {r.json()["error"]["code"] for r in responses} == {"forbidden"}


async def test_health_readiness_metrics_and_openapi(service) -> None:
    assert (await service.client.get("/healthz")).status_code == 200
    assert (await service.client.get("/readyz")).json()["status"] == "ready"
    assert "paylinks_http_requests_total" in (await service.client.get("/metrics")).text
    paths = (await service.client.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/bank-accounts",
        "/v1/bank-accounts/{bank_account_id}/payment-link",
        "/v1/bank-accounts/{bank_account_id}/qr-code",
        "/v1/bills/{bill_id}/payment-link",
        "/v1/pay/{token}",
        "/v1/pay/{token}/payments",
        "/v1/processor/webhooks",
    ):
        assert path in paths, path
