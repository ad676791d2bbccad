"""Every row of CONTRACT.md section 3's outcome table, over HTTP, with the webhooks each outcome sends."""

from __future__ import annotations

import time
import uuid

from processor_sandbox.testing import Sandbox, WebhookRecorder


async def test_a_card_payment_is_taken_then_succeeds_by_a_signed_webhook(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    token = await sandbox.tokenize_card("4242424242424242")
    payment_id = str(uuid.uuid4())
    started = time.monotonic()
    response = await sandbox.charge(token, payment_id=payment_id, firm_id=firm_id, amount=10000)
    assert response.status_code == 201, response.text
    taken = response.json()
    assert taken["id"].startswith("py_")
    assert taken["payment_id"] == payment_id
    assert taken["status"] == "pending"
    assert taken["method"] == "card"
    assert taken["payment_method"] == {"type": "card", "brand": "visa", "last4": "4242"}

    [event] = await receiver.wait_for("payment.succeeded", payment_id)
    assert receiver.arrival(event["id"]) - started >= sandbox.settings.sandbox_card_settle_seconds
    assert event["id"].startswith("evt_")
    assert isinstance(event["created"], int)
    assert event["data"] == {
        "firm_id": firm_id,
        "payment_id": payment_id,
        "fee": 320,  # 2.9 % of 100.00 + 0.30
        "fee_id": event["data"]["fee_id"],
        "fee_bank_account_id": "ba-operating",
        "method": "card",
        "last4": "4242",
        "brand": "visa",
    }
    assert all(d.signature_valid for d in receiver.deliveries)

    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "succeeded"
    assert charge["idempotency_key"] == f"payment:{payment_id}"
    assert charge["amount"] == 10000
    assert charge["currency"] == "USD"
    current = await sandbox.http.get(f"/v1/payments/{payment_id}", headers=sandbox.secret)
    assert current.json()["status"] == "succeeded"
    assert current.json()["fee"] == 320


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
    # Another payment after it shows that no webhook of the declined one is queued before it.
    other = str(uuid.uuid4())
    assert (await sandbox.charge(await sandbox.tokenize_card(), payment_id=other)).status_code == 201
    await receiver.wait_for("payment.succeeded", other)
    assert receiver.events(payment_id=payment_id) == []


async def test_the_dispute_card_is_processed_then_disputed_then_lost(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    token = await sandbox.tokenize_card("4000000000000259")
    payment_id = str(uuid.uuid4())
    started = time.monotonic()
    assert (await sandbox.charge(token, payment_id=payment_id, firm_id=firm_id)).status_code == 201
    [closed] = await receiver.wait_for("dispute.closed", payment_id)
    [succeeded] = receiver.events("payment.succeeded", payment_id)
    [created] = receiver.events("dispute.created", payment_id)
    # Each step happens its delay after the one before; a delivery can only come later than that.
    settle, dispute = sandbox.settings.sandbox_card_settle_seconds, sandbox.settings.sandbox_dispute_seconds
    assert receiver.arrival(succeeded["id"]) - started >= settle
    assert receiver.arrival(created["id"]) - started >= settle + dispute
    assert receiver.arrival(closed["id"]) - started >= settle + 2 * dispute
    assert created["data"]["amount"] == 12500
    assert created["data"]["fee"] == 1500
    assert created["data"]["dispute_id"].startswith("dp_")
    assert created["data"]["reason"]
    assert created["data"]["evidence_due_by"]
    assert created["data"]["fee_bank_account_id"] == "ba-operating"
    assert closed["data"] == {
        "firm_id": firm_id,
        "payment_id": payment_id,
        "dispute_id": created["data"]["dispute_id"],
        "outcome": "lost",
        "amount": 12500,
    }
    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "disputed"


async def test_the_good_account_is_processed_after_the_echeck_delay(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    token = await sandbox.tokenize_bank("000123456789")
    payment_id = str(uuid.uuid4())
    started = time.monotonic()
    response = await sandbox.charge(token, payment_id=payment_id, amount=100_000)
    assert response.status_code == 201
    assert response.json()["method"] == "echeck"
    assert response.json()["payment_method"] == {"type": "us_bank_account", "last4": "6789"}
    [event] = await receiver.wait_for("payment.succeeded", payment_id)
    assert receiver.arrival(event["id"]) - started >= sandbox.settings.sandbox_echeck_settle_seconds
    assert event["data"]["fee"] == 500
    assert event["data"]["method"] == "echeck"
    assert "brand" not in event["data"]


async def test_the_r01_account_fails_after_settling(sandbox: Sandbox, receiver: WebhookRecorder) -> None:
    token = await sandbox.tokenize_bank("000111111113")
    payment_id = str(uuid.uuid4())
    response = await sandbox.charge(token, payment_id=payment_id)
    assert response.status_code == 201
    assert response.json()["method"] == "echeck"
    [event] = await receiver.wait_for("payment.failed", payment_id)
    assert event["data"]["reason"] == "R01"
    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "failed"
    assert receiver.events("payment.succeeded", payment_id) == []


async def test_the_r10_account_is_processed_then_returned(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    token = await sandbox.tokenize_bank("000222222227")
    payment_id = str(uuid.uuid4())
    started = time.monotonic()
    assert (await sandbox.charge(token, payment_id=payment_id, amount=40000)).status_code == 201
    [returned] = await receiver.wait_for("payment.returned", payment_id)
    assert len(receiver.events("payment.succeeded", payment_id)) == 1
    settings = sandbox.settings
    assert (
        receiver.arrival(returned["id"]) - started
        >= settings.sandbox_echeck_settle_seconds + settings.sandbox_return_seconds
    )
    assert returned["data"]["reason"] == "R10"
    assert returned["data"]["amount"] == 40000
    [charge] = await sandbox.charges(payment_id)
    assert charge["status"] == "returned"


async def test_a_token_pays_for_one_payment_only(sandbox: Sandbox) -> None:
    token = await sandbox.tokenize_card()
    assert (await sandbox.charge(token)).status_code == 201
    second = await sandbox.charge(token)
    assert second.status_code == 422
    assert second.json()["error"]["code"] == "payment_method_used"


async def test_a_bank_token_charged_as_a_card_is_refused(sandbox: Sandbox) -> None:
    # A payer declaring "card" with a bank token would skip the eCheck debit authorization.
    bank = await sandbox.tokenize_bank()
    refused = await sandbox.charge(bank, method="card")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "payment_method_mismatch"
    assert (await sandbox.charge(bank, method="echeck")).status_code == 201  # the token is still unused


async def test_charges_refuse_unknown_tokens_missing_fee_accounts_and_foreign_echecks(
    sandbox: Sandbox,
) -> None:
    unknown = await sandbox.charge("pm_unknown")
    assert unknown.json()["error"]["code"] == "payment_method_invalid"
    no_fee_account = await sandbox.charge(await sandbox.tokenize_card(), fee_bank_account_id=None)
    assert no_fee_account.json()["error"]["code"] == "fee_account_required"
    euros = await sandbox.charge(await sandbox.tokenize_bank(), currency="EUR")
    assert euros.json()["error"]["code"] == "currency_mismatch"
    assert {unknown.status_code, no_fee_account.status_code, euros.status_code} == {422}
    for amount in (0, -5, 1.5, "100", 10**12 + 1, 2**63):
        refused = await sandbox.charge(await sandbox.tokenize_card(), amount=amount)
        assert refused.status_code == 422, amount
