"""Tokens and charges over HTTP, and the webhooks their outcomes send (CONTRACT.md section 3)."""

from __future__ import annotations

import uuid

from processor_sandbox.testing import Sandbox, WebhookRecorder


async def test_a_card_payment_is_taken_then_succeeds_by_a_signed_webhook(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    token = await sandbox.tokenize_card("4242424242424242")
    payment_id = str(uuid.uuid4())
    response = await sandbox.charge(token, payment_id=payment_id, firm_id=firm_id, amount=10000)
    assert response.status_code == 201, response.text
    taken = response.json()
    assert taken["status"] == "pending" and taken["method"] == "card"
    assert taken["payment_method"] == {"type": "card", "brand": "visa", "last4": "4242"}

    [event] = await receiver.wait_for("payment.succeeded", payment_id)
    assert event["id"].startswith("evt_") and isinstance(event["created"], int)
    data = event["data"]
    assert data["firm_id"] == firm_id and data["fee"] == 320  # 2.9 % of 100.00 + 0.30
    assert data["fee_bank_account_id"] == "ba-operating" and data["last4"] == "4242"
    assert all(d.signature_valid for d in receiver.deliveries)

    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "succeeded" and charge["idempotency_key"] == f"payment:{payment_id}"
    current = await sandbox.http.get(f"/v1/payments/{payment_id}", headers=sandbox.secret)
    assert current.json()["status"] == "succeeded" and current.json()["fee"] == 320


async def test_the_declined_card_is_refused_now_and_nothing_is_recorded(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    token = await sandbox.tokenize_card("4000000000000002")
    payment_id = str(uuid.uuid4())
    response = await sandbox.charge(token, payment_id=payment_id)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    assert await sandbox.charges(payment_id) == []
    missing = await sandbox.http.get(f"/v1/payments/{payment_id}", headers=sandbox.secret)
    assert missing.status_code == 404


async def test_the_r01_account_fails_after_settling(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    token = await sandbox.tokenize_bank("000111111113")
    payment_id = str(uuid.uuid4())
    response = await sandbox.charge(token, payment_id=payment_id)
    assert response.status_code == 201 and response.json()["method"] == "echeck"
    [event] = await receiver.wait_for("payment.failed", payment_id)
    assert event["data"]["reason"] == "R01"
    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "failed"
