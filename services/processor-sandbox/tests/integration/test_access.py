"""Who may call what: the publishable key tokenizes from any origin (CORS), the secret key does the rest."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from processor_sandbox.testing import Sandbox

CARD = {
    "type": "card",
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"},
}


async def test_the_preflight_allows_any_origin_with_authorization_and_content_type(sandbox: Sandbox) -> None:
    response = await sandbox.http.options(
        "/v1/payment_methods",
        headers={
            "Origin": "https://pay.firm.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


async def test_tokenization_answers_carry_cors_headers_errors_included(sandbox: Sandbox) -> None:
    browser = {"Origin": "https://pay.firm.example", **sandbox.publishable}
    made = await sandbox.http.post("/v1/payment_methods", json=CARD, headers=browser)
    assert made.status_code == 201
    assert made.headers["access-control-allow-origin"] == "*"
    assert made.json()["id"].startswith("pm_")
    assert made.json()["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2099}
    bad = {"type": "card", "card": {**CARD["card"], "number": "4242424242424241"}}  # type: ignore[dict-item]
    refused = await sandbox.http.post("/v1/payment_methods", json=bad, headers=browser)
    assert refused.status_code == 422
    assert refused.headers["access-control-allow-origin"] == "*"
    assert refused.json()["error"]["code"] == "invalid_number"


async def test_only_the_tokenization_path_is_open_to_browsers(sandbox: Sandbox) -> None:
    response = await sandbox.http.options(
        "/v1/payments", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "card", "card": {**CARD["card"], "exp_month": 13}}, "invalid_expiry"),  # type: ignore[dict-item]
        ({"type": "card", "card": {**CARD["card"], "exp_year": 2020}}, "invalid_expiry"),  # type: ignore[dict-item]
        ({"type": "card", "card": {**CARD["card"], "exp_year": 10**20}}, "invalid_expiry"),  # type: ignore[dict-item]
        ({"type": "card", "card": {**CARD["card"], "cvc": "1"}}, "invalid_cvc"),  # type: ignore[dict-item]
        (
            {
                "type": "us_bank_account",
                "us_bank_account": {
                    "routing_number": "110000001",
                    "account_number": "000123456789",
                    "account_holder_name": "Dana",
                },
            },
            "invalid_routing_number",
        ),
        (
            {
                "type": "us_bank_account",
                "us_bank_account": {
                    "routing_number": "110000000",
                    "account_number": "12",
                    "account_holder_name": "Dana",
                },
            },
            "invalid_account_number",
        ),
    ],
)
async def test_invalid_details_get_their_422_code(sandbox: Sandbox, body: dict[str, Any], code: str) -> None:
    response = await sandbox.http.post("/v1/payment_methods", json=body, headers=sandbox.publishable)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_a_malformed_body_is_refused_without_echoing_the_card(sandbox: Sandbox) -> None:
    body = {"type": "card", "card": {"number": "4242424242424242", "cvc": "987", "exp_month": "soon"}}
    response = await sandbox.http.post("/v1/payment_methods", json=body, headers=sandbox.publishable)
    assert response.status_code == 422
    assert "4242424242424242" not in response.text
    assert "987" not in response.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer pk_wrong"}, {"Authorization": "Basic x"}])
async def test_tokenization_needs_a_key(sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = await sandbox.http.post("/v1/payment_methods", json=CARD, headers=headers)
    assert response.status_code == 401


async def test_the_publishable_key_cannot_charge_nor_read(sandbox: Sandbox) -> None:
    token = await sandbox.tokenize_card()
    payment_id = str(uuid.uuid4())
    body = {
        "payment_id": payment_id,
        "payment_method": token,
        "amount": 100,
        "firm_id": "f",
        "bank_account_id": "b",
        "fee_bank_account_id": "o",
    }
    for headers in ({}, sandbox.publishable, {"Authorization": "Bearer sk_wrong"}):
        charged = await sandbox.http.post(
            "/v1/payments", json=body, headers={**headers, "Idempotency-Key": "k1"}
        )
        assert charged.status_code == 401, headers
        listed = await sandbox.http.get(
            "/v1/sandbox/charges", params={"payment_id": payment_id}, headers=headers
        )
        assert listed.status_code == 401
        paid_out = await sandbox.http.post("/v1/sandbox/payouts", json={}, headers=headers)
        assert paid_out.status_code == 401
    assert await sandbox.charges(payment_id) == []


async def test_the_secret_key_is_refused_from_a_browser(sandbox: Sandbox) -> None:
    response = await sandbox.http.get(
        "/v1/sandbox/charges",
        params={"payment_id": "p"},
        headers={**sandbox.secret, "Origin": "https://pay.firm.example"},
    )
    assert response.status_code == 401


async def test_money_calls_need_an_idempotency_key(sandbox: Sandbox) -> None:
    token = await sandbox.tokenize_card()
    body = {
        "payment_id": str(uuid.uuid4()),
        "payment_method": token,
        "amount": 100,
        "firm_id": "f",
        "bank_account_id": "b",
        "fee_bank_account_id": "o",
    }
    response = await sandbox.http.post("/v1/payments", json=body, headers=sandbox.secret)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    refund = {"refund_id": str(uuid.uuid4()), "payment_id": body["payment_id"], "amount": 1}
    response = await sandbox.http.post("/v1/refunds", json=refund, headers=sandbox.secret)
    assert response.status_code == 400


async def test_the_service_endpoints_are_served(sandbox: Sandbox) -> None:
    assert (await sandbox.charge(await sandbox.tokenize_card())).status_code == 201
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await sandbox.http.get(path)).status_code == 200, path
    assert (await sandbox.http.get("/readyz")).json()["checks"] == {"postgres": True}
    metrics = (await sandbox.http.get("/metrics")).text
    assert 'processor_sandbox_charges_total{method="card",outcome="taken"}' in metrics
    paths = (await sandbox.http.get("/openapi.json")).json()["paths"]
    assert {"/v1/payment_methods", "/v1/payments", "/v1/refunds", "/v1/sandbox/payouts"} <= set(paths)
