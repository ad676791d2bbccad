"""The processor webhook: signature (HMAC-SHA256 over "<t>.<body>", 300 s tolerance, several v1 allowed),
one effect per webhook id. The sandbox's own settlement is an hour away here, so these tests send them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from paylinks_events import Topic
from paylinks_runtime import webhook_signature
from paylinks_runtime.testing import TopicWatcher, header

from .conftest import service_pool


@pytest.fixture(scope="module")
def sandbox_overrides() -> dict[str, Any]:
    return {"sandbox_echeck_settle_seconds": 3600}


def webhook(payment_id: str, kind: str = "payment.succeeded", **data: Any) -> bytes:
    return json.dumps(
        {"id": str(uuid.uuid4()), "type": kind, "data": {"payment_id": payment_id, **data}}
    ).encode()


async def post(service, body: bytes, signature: str | None) -> Any:  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[webhook_signature.HEADER] = signature
    return await service.client.post("/v1/processor/webhooks", content=body, headers=headers)


def signed(service, body: bytes, at: float | None = None) -> str:  # type: ignore[no-untyped-def]
    return webhook_signature.sign(service.settings.webhook_secret, int(at or time.time()), body)


async def received_payment(service) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    firm, _, token = await service.new_account_token()
    response = await service.pay(token, await service.echeck_payment(5_000))
    assert response.status_code == 202
    return firm, response.json()["payment_id"]


async def payment_events(service, payment_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    async with service_pool(service) as conn:
        rows = await conn.fetch(
            "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version", payment_id
        )
    return [r["event_type"] for r in rows]


async def test_bad_signatures_are_400_and_change_nothing(service) -> None:
    _, payment_id = await received_payment(service)
    body = webhook(payment_id)
    now = time.time()
    for signature in (
        None,
        "",
        "t=1,v1=abc",
        signed(service, body, at=now - 302),
        signed(service, body, at=now + 302),
        webhook_signature.sign("another-secret", int(now), body),
        signed(service, webhook("other")),
    ):
        response = await post(service, body, signature)
        assert response.status_code == 400, signature
        assert response.json()["error"]["code"] == "bad_signature"
    assert await payment_events(service, payment_id) == ["PaymentReceived"]


async def test_a_valid_webhook_processes_the_payment_once(service) -> None:
    firm, payment_id = await received_payment(service)
    body = webhook(payment_id)
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        first = await post(service, body, signed(service, body))
        again = await post(service, body, signed(service, body))
        await watcher.wait_for(
            lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == "PaymentProcessed"
        )
    assert (first.status_code, first.json()["status"]) == (200, "applied")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert await payment_events(service, payment_id) == ["PaymentReceived", "PaymentProcessed"]


async def test_one_of_several_v1_signatures_may_match(service) -> None:
    _, payment_id = await received_payment(service)
    body = webhook(payment_id, "payment.failed", reason="R02")
    good = signed(service, body)
    rotated = good.replace(",v1=", ",v1=" + "0" * 64 + ",v1=")
    assert (await post(service, body, rotated)).status_code == 200
    assert await payment_events(service, payment_id) == ["PaymentReceived", "PaymentFailed"]


async def test_a_report_after_the_outcome_changes_nothing(service) -> None:
    _, payment_id = await received_payment(service)
    for kind in ("payment.failed", "payment.succeeded"):
        body = webhook(payment_id, kind)
        assert (await post(service, body, signed(service, body))).status_code == 200
    assert await payment_events(service, payment_id) == ["PaymentReceived", "PaymentFailed"]


async def test_an_unknown_payment_is_404_and_a_malformed_body_400(service) -> None:
    unknown = webhook(str(uuid.uuid4()))
    response = await post(service, unknown, signed(service, unknown))
    assert response.status_code == 404
    malformed = b'{"id": "x", "type": "payment.refunded", "data": {}}'
    response = await post(service, malformed, signed(service, malformed))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_webhook"
