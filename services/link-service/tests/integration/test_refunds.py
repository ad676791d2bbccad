"""Refunds against the real sandbox processor: asked by an admin, recorded on payment.events (requested, then
succeeded when the processor's webhook comes), one refund at the processor each; and what is refused."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from paylinks_events import Topic
from paylinks_runtime.testing import DATABASE_URL, TopicWatcher, auth_header, eventually

from .conftest import R01_ACCOUNT
from .test_processor_events import control, of_payment, paid

ADMIN = {"roles": ("staff", "admin"), "user_id": "user-admin"}


async def refund(service: Any, firm: str, payment_id: str, amount: Any, **headers: str) -> Any:
    return await service.client.post(
        f"/v1/payments/{payment_id}/refunds",
        json={"amount": amount, "reason": "retainer unearned"},
        headers={**auth_header(firm, **ADMIN), **headers},
    )


async def refunds_of(service: Any, firm: str, payment_id: str) -> list[dict[str, Any]]:
    response = await service.client.get(f"/v1/payments/{payment_id}/refunds", headers=auth_header(firm))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def processor_refunds(service: Any, payment_id: str) -> list[tuple[str, int]]:
    """(refund_id, amount) of every refund the sandbox made for the payment, read from its own tables."""
    schema = service.sandbox.settings.db_schema
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(
            "SELECT r.refund_id, r.amount FROM refunds r JOIN charges c ON c.id = r.charge_id"
            " WHERE c.payment_id = $1 ORDER BY r.created_at",
            payment_id,
        )
    finally:
        await conn.close()
    return [(r["refund_id"], r["amount"]) for r in rows]


async def test_a_full_refund_is_requested_then_succeeds_once_at_the_processor(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        firm, trust, payment_id = await paid(service, watcher, await service.card_payment(10_000))
        response = await refund(service, firm, payment_id, 10_000, **{"Idempotency-Key": "full-1"})
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["payment_id"], body["amount"], body["status"]) == (payment_id, 10_000, "pending")
        again = await refund(service, firm, payment_id, 10_000, **{"Idempotency-Key": "full-1"})
        assert again.json()["refund_id"] == body["refund_id"]
        [requested] = await watcher.wait_for(of_payment(payment_id, "RefundRequested"))
        [succeeded] = await watcher.wait_for(of_payment(payment_id, "RefundSucceeded"))
    data = json.loads(requested.value)
    assert (data["refund_id"], data["amount"], data["bank_account_id"]) == (body["refund_id"], 10_000, trust)
    assert (data["reason"], data["requested_by"]) == ("retainer unearned", "user-admin")
    assert json.loads(succeeded.value)["refund_id"] == body["refund_id"]
    assert await processor_refunds(service, payment_id) == [(body["refund_id"], 10_000)]
    [listed] = await refunds_of(service, firm, payment_id)
    assert (listed["refund_id"], listed["status"], listed["requested_by"]) == (
        body["refund_id"],
        "succeeded",
        "user-admin",
    )
    over = await refund(service, firm, payment_id, 1)
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "amount_exceeds_refundable"


async def test_two_partial_refunds_then_one_above_what_is_left_is_refused(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        firm, _, payment_id = await paid(service, watcher, await service.card_payment(10_000))
        first = await refund(service, firm, payment_id, 3_000)
        second = await refund(service, firm, payment_id, 5_000)
        assert (first.status_code, second.status_code) == (202, 202)
        over = await refund(service, firm, payment_id, 2_001)  # 2,000 left: pending refunds count
        assert over.status_code == 422
        assert over.json()["error"]["code"] == "amount_exceeds_refundable"
        await watcher.wait_for(of_payment(payment_id, "RefundRequested"), count=2)
        succeeded = await watcher.wait_for(of_payment(payment_id, "RefundSucceeded"), count=2)
    ids = {first.json()["refund_id"], second.json()["refund_id"]}
    assert {json.loads(r.value)["refund_id"] for r in succeeded} == ids
    assert sorted(await processor_refunds(service, payment_id)) == sorted(
        [(first.json()["refund_id"], 3_000), (second.json()["refund_id"], 5_000)]
    )
    assert [r["status"] for r in await refunds_of(service, firm, payment_id)] == ["succeeded", "succeeded"]


async def test_refunds_are_for_admins_of_the_firm_and_processed_payments(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        firm, _, payment_id = await paid(service, watcher, await service.card_payment(5_000))
    path = f"/v1/payments/{payment_id}/refunds"
    body = {"amount": 100, "reason": "overpaid"}
    staff = await service.client.post(path, json=body, headers=auth_header(firm))
    assert staff.status_code == 403
    assert (await service.client.post(path, json=body)).status_code == 401
    other = await refund(service, service.new_firm(), payment_id, 100)
    assert other.status_code == 404
    unknown = await refund(service, firm, str(uuid.uuid4()), 100)
    assert unknown.status_code == 404
    listing = await service.client.get(path, headers=auth_header(service.new_firm()))
    assert listing.status_code == 404
    for amount in (0, -5, 1.5, "100"):
        assert (await refund(service, firm, payment_id, amount)).status_code == 422
    reused = await refund(service, firm, payment_id, 100, **{"Idempotency-Key": "k"})
    assert reused.status_code == 202
    other_body = await refund(service, firm, payment_id, 200, **{"Idempotency-Key": "k"})
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await refunds_of(service, firm, payment_id)) == 1
    assert await eventually(lambda: _processor_has(service, payment_id, 1))


async def test_a_failed_payment_is_not_refundable(service) -> None:
    firm, _, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        response = await service.pay(token, await service.echeck_payment(8_000, R01_ACCOUNT))
        payment_id = response.json()["payment_id"]
        await watcher.wait_for(of_payment(payment_id, "PaymentFailed"))
    refused = await refund(service, firm, payment_id, 100)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "payment_not_refundable"
    assert await refunds_of(service, firm, payment_id) == []


async def test_a_refund_the_processor_refuses_fails_at_once(service) -> None:
    """A dispute open at the processor holds the disputed money: the processor refuses the refund (422), and
    link-service records RefundFailed with its code at once; nothing was given back."""
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        firm, _, payment_id = await paid(service, watcher, await service.card_payment(6_000))
        await control(service, f"/v1/sandbox/payments/{payment_id}/dispute", {})
        await watcher.wait_for(of_payment(payment_id, "PaymentDisputed"))
        refused = await refund(service, firm, payment_id, 6_000)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "amount_exceeds_refundable"
        await watcher.wait_for(of_payment(payment_id, "RefundRequested"))
        [failed] = await watcher.wait_for(of_payment(payment_id, "RefundFailed"))
    assert json.loads(failed.value)["reason"] == "amount_exceeds_refundable"
    assert [r["status"] for r in await refunds_of(service, firm, payment_id)] == ["failed"]
    assert await processor_refunds(service, payment_id) == []


async def _processor_has(service: Any, payment_id: str, count: int) -> bool:
    return len(await processor_refunds(service, payment_id)) == count
