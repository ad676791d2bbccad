"""Refunds, disputes and returns after a payment was processed, with their webhooks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from processor_sandbox.testing import Sandbox, WebhookRecorder


async def processed(sandbox: Sandbox, receiver: WebhookRecorder, token: str, **fields: Any) -> str:
    payment_id = str(uuid.uuid4())
    assert (await sandbox.charge(token, payment_id=payment_id, **fields)).status_code == 201
    await receiver.wait_for("payment.succeeded", payment_id)
    return payment_id


async def refund(
    sandbox: Sandbox, payment_id: str, amount: int, refund_id: str | None = None
) -> httpx.Response:
    refund_id = refund_id or str(uuid.uuid4())
    body = {"refund_id": refund_id, "payment_id": payment_id, "amount": amount}
    headers = {**sandbox.secret, "Idempotency-Key": f"refund:{refund_id}"}
    return await sandbox.http.post("/v1/refunds", json=body, headers=headers)


async def control(sandbox: Sandbox, payment_id: str, action: str, body: dict[str, Any]) -> httpx.Response:
    return await sandbox.http.post(
        f"/v1/sandbox/payments/{payment_id}/{action}", json=body, headers=sandbox.secret
    )


async def test_a_refund_is_pending_then_succeeds(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_card())
    refund_id = str(uuid.uuid4())
    response = await refund(sandbox, payment_id, 2500, refund_id)
    assert response.status_code == 201, response.text
    assert response.json() | {"id": "x"} == {
        "id": "x",
        "refund_id": refund_id,
        "payment_id": payment_id,
        "amount": 2500,
        "status": "pending",
    }
    [event] = await receiver.wait_for("refund.succeeded", payment_id)
    assert event["data"] | {"firm_id": "x"} == {
        "firm_id": "x",
        "payment_id": payment_id,
        "refund_id": refund_id,
        "amount": 2500,
    }


async def test_refunds_stop_at_what_is_left_counting_pending_ones(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_card(), amount=10000)
    assert (await refund(sandbox, payment_id, 6000)).status_code == 201
    too_much = await refund(sandbox, payment_id, 4001)
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "amount_exceeds_refundable"
    assert (await refund(sandbox, payment_id, 4000)).status_code == 201
    assert (await refund(sandbox, payment_id, 1)).json()["error"]["code"] == "amount_exceeds_refundable"


async def test_only_a_processed_payment_is_refunded(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    pending_id = str(uuid.uuid4())
    await sandbox.charge(await sandbox.tokenize_bank(), payment_id=pending_id)
    not_yet = await refund(sandbox, pending_id, 100)
    assert not_yet.status_code == 422
    assert not_yet.json()["error"]["code"] == "payment_not_refundable"
    assert (await refund(sandbox, str(uuid.uuid4()), 100)).status_code == 404
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_card())
    refund_id = str(uuid.uuid4())
    assert (await refund(sandbox, payment_id, 100, refund_id)).status_code == 201
    body = {"refund_id": refund_id, "payment_id": payment_id, "amount": 100}
    headers = {**sandbox.secret, "Idempotency-Key": "another-key"}
    reused = await sandbox.http.post("/v1/refunds", json=body, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "refund_id_used"


async def test_a_dispute_won_gives_back_the_amount_and_the_fee(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_card())
    opened = await control(sandbox, payment_id, "dispute", {"outcome": "won"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["amount"] == 12500
    assert opened.json()["fee"] == 1500
    [closed] = await receiver.wait_for("dispute.closed", payment_id)
    [created] = receiver.events("dispute.created", payment_id)
    assert created["data"]["dispute_id"] == closed["data"]["dispute_id"] == opened.json()["dispute_id"]
    assert closed["data"]["outcome"] == "won"
    assert closed["data"]["fee_refund"] == 1500
    assert closed["data"]["fee_id"] == created["data"]["fee_id"]
    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "succeeded"


async def test_a_dispute_without_outcome_stays_open(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_card())
    assert (await control(sandbox, payment_id, "dispute", {})).status_code == 200
    await receiver.wait_for("dispute.created", payment_id)
    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "disputed"
    again = await control(sandbox, payment_id, "dispute", {})
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "payment_not_disputable"
    # The disputed amount cannot be refunded as well.
    assert (await refund(sandbox, payment_id, 1)).json()["error"]["code"] == "amount_exceeds_refundable"


async def test_only_a_processed_payment_can_be_disputed(sandbox: Sandbox) -> None:
    payment_id = str(uuid.uuid4())
    await sandbox.charge(await sandbox.tokenize_bank(), payment_id=payment_id)
    pending = await control(sandbox, payment_id, "dispute", {"outcome": "lost"})
    assert pending.status_code == 422
    assert (await control(sandbox, str(uuid.uuid4()), "dispute", {})).status_code == 404


async def test_a_processed_echeck_is_returned_on_demand(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_bank(), amount=7000)
    assert (await refund(sandbox, payment_id, 1000)).status_code == 201
    await receiver.wait_for("refund.succeeded", payment_id)
    returned = await control(sandbox, payment_id, "return", {"reason": "R05"})
    assert returned.status_code == 200, returned.text
    [event] = await receiver.wait_for("payment.returned", payment_id)
    assert event["data"]["reason"] == "R05"
    assert event["data"]["amount"] == 6000
    again = await control(sandbox, payment_id, "return", {"reason": "R05"})
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "payment_not_returnable"


async def test_a_card_cannot_be_returned(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    payment_id = await processed(sandbox, receiver, await sandbox.tokenize_card())
    refused = await control(sandbox, payment_id, "return", {"reason": "R01"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "payment_not_returnable"
    assert (await control(sandbox, payment_id, "return", {"reason": "nope"})).status_code == 422
