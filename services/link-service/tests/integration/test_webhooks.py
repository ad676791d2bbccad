"""The processor webhook: signature (HMAC-SHA256 over "<t>.<body>", 300 s tolerance, several v1 allowed),
one effect per webhook id. The sandbox's own settlement is an hour away here, so these tests send them."""

from __future__ import annotations

import asyncio
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


async def send(service, kind: str, payment_id: str, **data: Any) -> Any:  # type: ignore[no-untyped-def]
    body = webhook(payment_id, kind, **data)
    return await post(service, body, signed(service, body))


async def test_a_valid_webhook_processes_the_payment_once(service) -> None:
    firm, payment_id = await received_payment(service)
    body = webhook(payment_id, fee=80, fee_id="fee-1")
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        first = await post(service, body, signed(service, body))
        again = await post(service, body, signed(service, body))
        await watcher.wait_for(
            lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == "PaymentProcessed"
        )
    assert (first.status_code, first.json()) == (200, {"result": "applied"})
    assert (again.status_code, again.json()) == (200, {"result": "ignored"})
    assert await payment_events(service, payment_id) == ["PaymentReceived", "PaymentProcessed", "FeeCharged"]


async def test_one_of_several_v1_signatures_may_match(service) -> None:
    _, payment_id = await received_payment(service)
    body = webhook(payment_id, "payment.failed", reason="R02")
    good = signed(service, body)
    rotated = good.replace(",v1=", ",v1=" + "0" * 64 + ",v1=")
    assert (await post(service, body, rotated)).status_code == 200
    assert await payment_events(service, payment_id) == ["PaymentReceived", "PaymentFailed"]


async def test_a_report_after_the_outcome_changes_nothing_and_is_ignored(service) -> None:
    _, payment_id = await received_payment(service)
    assert (await send(service, "payment.failed", payment_id, reason="R01")).json() == {"result": "applied"}
    assert (await send(service, "payment.succeeded", payment_id, fee=10)).json() == {"result": "ignored"}
    assert await payment_events(service, payment_id) == ["PaymentReceived", "PaymentFailed"]


async def test_reports_about_what_is_not_a_payment_of_ours_are_ignored(service) -> None:
    _, account_id, _ = await service.new_account_token()
    _, payment_id = await received_payment(service)
    cases = [
        ("payment.succeeded", str(uuid.uuid4()), {}),  # unknown payment
        ("payment.succeeded", account_id, {}),  # a bank account's stream, not a payment's
        ("payment.succeeded", payment_id, {"firm_id": "another-firm"}),
        ("refund.succeeded", payment_id, {"refund_id": "re-never-asked"}),
        ("payment.captured", payment_id, {}),  # a type this service has no use for
        (
            "payout.paid",
            payment_id,
            {
                "payout_id": "po-1",
                "bank_account_id": "ba-unknown",
                "amount": 0,
                "currency": "USD",
                "arrival_date": "2026-12-01",
                "lines": [],
            },
        ),
    ]
    for kind, target, data in cases:
        response = await send(service, kind, target, **data)
        assert (response.status_code, response.json()) == (200, {"result": "ignored"}), (kind, target)
    assert await payment_events(service, payment_id) == ["PaymentReceived"]
    assert await payment_events(service, account_id) == ["BankAccountRegistered"]


async def test_a_dispute_closed_before_it_opened_is_refused_until_it_has(service) -> None:
    _, payment_id = await received_payment(service)
    dispute = {
        "dispute_id": "dp-1",
        "amount": 5_000,
        "reason": "fraudulent",
        "evidence_due_by": "2026-12-20T00:00:00+00:00",
        "fee": 1_500,
        "fee_id": "fee-dp-1",
    }
    closed = {"dispute_id": "dp-1", "outcome": "lost"}
    early = await send(service, "dispute.created", payment_id, **dispute)  # not processed yet
    assert (early.status_code, early.json()["error"]["code"]) == (409, "out_of_order")
    await send(service, "payment.succeeded", payment_id, fee=40)
    too_soon = await send(service, "dispute.closed", payment_id, **closed)
    assert too_soon.status_code == 409
    assert (await send(service, "dispute.created", payment_id, **dispute)).json() == {"result": "applied"}
    assert (await send(service, "dispute.closed", payment_id, **closed)).json() == {"result": "applied"}
    assert (await send(service, "dispute.closed", payment_id, **closed)).json() == {"result": "ignored"}
    assert await payment_events(service, payment_id) == [
        "PaymentReceived",
        "PaymentProcessed",
        "FeeCharged",
        "PaymentDisputed",
        "FeeCharged",
        "DisputeClosed",
    ]


async def test_reports_racing_on_one_payment_each_apply_once(service) -> None:
    """Sent at once: three disputes of one payment all apply (a report whose save finds the payment moved is
    decided again), and a webhook delivered twice applies once."""
    _, payment_id = await received_payment(service)
    await send(service, "payment.succeeded", payment_id, fee=40)

    def dispute(n: int) -> bytes:
        opened = {"amount": 100, "reason": "fraudulent", "evidence_due_by": "2026-12-20T00:00:00+00:00"}
        return webhook(
            payment_id, "dispute.created", dispute_id=f"dp-{n}", fee=1_500, fee_id=f"fee-{n}", **opened
        )

    twice = dispute(3)
    bodies = [dispute(1), dispute(2), twice, twice]
    answers = await asyncio.gather(*(post(service, body, signed(service, body)) for body in bodies))
    assert sorted(a.json()["result"] for a in answers) == ["applied"] * 3 + ["ignored"]
    events = await payment_events(service, payment_id)
    assert (events.count("PaymentDisputed"), events.count("FeeCharged")) == (3, 4)


async def test_a_report_on_a_charge_still_being_recorded_is_409(service) -> None:
    payment_id = str(uuid.uuid4())
    async with service_pool(service) as conn:  # an attempt charged, its answer not recorded yet
        await conn.execute(
            "INSERT INTO payment_attempts (payment_id, link_id, amount, state)"
            " VALUES ($1, 'a-link', 100, 'charging')",
            payment_id,
        )
    response = await send(service, "payment.succeeded", payment_id, fee=10)
    assert response.status_code == 409


async def test_a_malformed_body_is_400(service) -> None:
    malformed = b'{"id": "x", "type": "payment.succeeded", "data": {}}'
    response = await post(service, malformed, signed(service, malformed))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_webhook"
