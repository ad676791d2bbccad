"""The workspace's refund call to link-service, against a stub HTTP server (link-service's refund endpoint is
not on main yet): what it sends, and what staff read for each answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from paylinks_runtime.testing import free_socket, serving
from reconciliation_service.workspace.link_service import request_refund


@pytest.fixture
async def stub() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    calls: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/v1/payments/{payment_id:path}/refunds")
    async def refunds(payment_id: str, request: Request) -> Response:
        body = await request.json()
        raw_path = request.scope["raw_path"].decode()
        calls.append({"raw_path": raw_path, "body": body, "headers": dict(request.headers)})
        if body["reason"] == "broken":
            return PlainTextResponse("upstream exploded", status_code=502)
        if body["amount"] > 100:
            error = {"code": "amount_exceeds_refundable", "message": "at most 1.00 USD can be refunded"}
            return JSONResponse({"error": error}, status_code=422)
        return JSONResponse({"refund_id": "r", "status": "pending"}, status_code=202)

    async with serving(app, free_socket()) as url:
        yield url, calls


async def test_the_refund_is_asked_with_the_staff_token_and_the_forms_idempotency_key(stub) -> None:  # type: ignore[no-untyped-def]
    url, calls = stub
    outcome = await request_refund(url, "jwt-of-amy", "pay-1", 100, "overpaid", "key-1")
    assert outcome.accepted
    assert calls[0]["raw_path"] == "/v1/payments/pay-1/refunds"
    assert calls[0]["body"] == {"amount": 100, "reason": "overpaid"}
    assert calls[0]["headers"]["authorization"] == "Bearer jwt-of-amy"
    assert calls[0]["headers"]["idempotency-key"] == "key-1"


async def test_a_payment_id_stays_one_path_segment(stub) -> None:  # type: ignore[no-untyped-def]
    url, calls = stub
    await request_refund(url, "t", "../../admin?x=1", 1, "r", "k")
    assert calls[0]["raw_path"] == "/v1/payments/..%2F..%2Fadmin%3Fx%3D1/refunds"


async def test_refusals_carry_link_services_reason_or_the_status(stub) -> None:  # type: ignore[no-untyped-def]
    url, _ = stub
    refused = await request_refund(url, "t", "p", 101, "overpaid", "k")
    assert not refused.accepted
    assert refused.message == "The refund was refused: at most 1.00 USD can be refunded"
    broken = await request_refund(url, "t", "p", 1, "broken", "k")
    assert (broken.accepted, broken.message) == (False, "The refund was refused (HTTP 502).")


async def test_an_unreachable_link_service_refunds_nothing_and_says_so() -> None:
    sock = free_socket()
    host, port = sock.getsockname()[:2]
    sock.close()  # nothing listens there now
    outcome = await request_refund(f"http://{host}:{port}", "t", "p", 1, "r", "k")
    assert not outcome.accepted
    assert "could not be reached" in outcome.message
