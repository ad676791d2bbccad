"""Idempotency-Key on the money calls: replayed, refused when reused with another body, 409 in flight."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from paylinks_runtime.testing import DATABASE_URL
from processor_sandbox.idempotency import KEY_LOCK_CLASS
from processor_sandbox.testing import Sandbox, WebhookRecorder


def payment_body(token: str, **fields: Any) -> dict[str, Any]:
    return {
        "payment_id": str(uuid.uuid4()),
        "payment_method": token,
        "amount": 12500,
        "currency": "USD",
        "firm_id": "firm-idem",
        "bank_account_id": "ba-trust",
        "fee_bank_account_id": "ba-operating",
        **fields,
    }


async def post(sandbox: Sandbox, body: dict[str, Any], key: str, path: str = "/v1/payments") -> Any:
    return await sandbox.http.post(path, json=body, headers={**sandbox.secret, "Idempotency-Key": key})


async def test_the_same_key_and_body_replays_the_first_response_and_charges_once(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    body = payment_body(await sandbox.tokenize_card())
    key = f"payment:{body['payment_id']}"
    first = await post(sandbox, body, key)
    assert first.status_code == 201
    await receiver.wait_for("payment.succeeded", body["payment_id"])
    for _ in range(3):
        again = await post(sandbox, dict(reversed(body.items())), key)  # key order is not the body
        assert (again.status_code, again.json()) == (201, first.json())  # still "pending", as first answered
    assert len(await sandbox.charges(body["payment_id"])) == 1


async def test_a_decline_is_replayed_too(sandbox: Sandbox) -> None:
    body = payment_body(await sandbox.tokenize_card("4000000000000002"))
    first = await post(sandbox, body, "declined-1")
    again = await post(sandbox, body, "declined-1")
    assert first.status_code == again.status_code == 402
    assert first.json() == again.json()


async def test_the_same_key_with_another_body_is_refused(sandbox: Sandbox) -> None:
    body = payment_body(await sandbox.tokenize_card())
    key = f"payment:{body['payment_id']}"
    assert (await post(sandbox, body, key)).status_code == 201
    reused = await post(sandbox, {**body, "amount": 99}, key)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    refund = {"refund_id": str(uuid.uuid4()), "payment_id": body["payment_id"], "amount": 1}
    elsewhere = await post(sandbox, refund, key, "/v1/refunds")  # same key, another call
    assert elsewhere.status_code == 422
    [charge] = await sandbox.charges(body["payment_id"])
    assert charge["amount"] == 12500


async def test_a_key_whose_first_request_is_running_gets_409(sandbox: Sandbox) -> None:
    """ "Running" is the first request holding the key's transaction lock: the test holds it instead."""
    body = payment_body(await sandbox.tokenize_card())
    key = f"payment:{body['payment_id']}"
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", KEY_LOCK_CLASS, key)
        busy = await post(sandbox, body, key)
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "idempotency_key_in_flight"
        assert await sandbox.charges(body["payment_id"]) == []
    finally:
        await conn.close()
    assert (await post(sandbox, body, key)).status_code == 201


async def test_concurrent_retries_of_one_key_make_one_charge(sandbox: Sandbox) -> None:
    body = payment_body(await sandbox.tokenize_card())
    key = f"payment:{body['payment_id']}"
    answers = await asyncio.gather(*(post(sandbox, body, key) for _ in range(12)))
    assert {a.status_code for a in answers} <= {201, 409}
    created = [a.json() for a in answers if a.status_code == 201]
    assert created
    assert all(c == created[0] for c in created)
    assert len(await sandbox.charges(body["payment_id"])) == 1


async def test_two_payments_racing_for_one_token_charge_once(sandbox: Sandbox) -> None:
    token = await sandbox.tokenize_card()
    bodies = [payment_body(token) for _ in range(6)]
    answers = await asyncio.gather(*(post(sandbox, b, f"payment:{b['payment_id']}") for b in bodies))
    assert sorted(a.status_code for a in answers) == [201] + [422] * 5
    charged = [len(await sandbox.charges(b["payment_id"])) for b in bodies]
    assert sum(charged) == 1
