"""Webhook delivery: at least once through a receiver that is down, in order per payment, several at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from paylinks_runtime.testing import DATABASE_URL, drop_schema, eventually, free_socket, serving
from processor_sandbox.testing import Sandbox, WebhookRecorder, running_sandbox, sandbox_settings


@asynccontextmanager
async def own_sandbox(webhook_url: str, **overrides: object) -> AsyncIterator[Sandbox]:
    settings = sandbox_settings(webhook_url, **overrides)
    try:
        async with running_sandbox(webhook_url, settings) as sandbox:
            yield sandbox
    finally:
        await drop_schema(settings.db_schema)


async def webhook_attempts(sandbox: Sandbox) -> int:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": sandbox.settings.db_schema})
    try:
        return int(await conn.fetchval("SELECT coalesce(sum(attempts), 0) FROM webhooks"))
    finally:
        await conn.close()


async def test_a_refused_webhook_is_sent_again_until_the_receiver_takes_it(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    receiver.down = True
    try:
        payment_id = str(uuid.uuid4())
        assert (await sandbox.charge(await sandbox.tokenize_card(), payment_id=payment_id)).status_code == 201
        await eventually(lambda: receiver.refused >= 3, timeout=20)  # retried, with backoff
        assert receiver.events(payment_id=payment_id) == []
    finally:
        receiver.down = False
    [event] = await receiver.wait_for("payment.succeeded", payment_id)
    assert event["data"]["payment_id"] == payment_id


async def test_webhooks_wait_for_a_receiver_that_is_not_listening_yet() -> None:
    sock = free_socket()  # bound, not listening: connections are refused
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}/webhooks"
    async with own_sandbox(url) as sandbox:
        payment_id = str(uuid.uuid4())
        assert (await sandbox.charge(await sandbox.tokenize_card(), payment_id=payment_id)).status_code == 201
        await eventually(lambda: _at_least(sandbox, 2), timeout=20)
        recorder = WebhookRecorder()
        async with serving(recorder.app(), sock):
            [event] = await recorder.wait_for("payment.succeeded", payment_id, timeout=20)
        assert recorder.deliveries[0].signature_valid
        assert event["data"]["fee"] == 393


async def _at_least(sandbox: Sandbox, attempts: int) -> bool:
    return await webhook_attempts(sandbox) >= attempts


def slower_for_earlier_refunds(event: dict[str, Any]) -> float:
    """Refunds of 5, 4, 3, 2, 1 cents: the first takes longest to answer, so any delivery that did not wait
    for the one before it would arrive first."""
    return 0.15 * event["data"]["amount"] if event["type"] == "refund.succeeded" else 0.0


async def test_first_deliveries_of_a_payment_keep_their_order() -> None:
    async with (
        WebhookRecorder.serving(delay=slower_for_earlier_refunds) as receiver,
        own_sandbox(receiver.url, sandbox_card_settle_seconds=0.3) as sandbox,
    ):
        payment_id = str(uuid.uuid4())
        assert (await sandbox.charge(await sandbox.tokenize_card(), payment_id=payment_id)).status_code == 201
        await receiver.wait_for("payment.succeeded", payment_id)
        for amount in (5, 4, 3, 2, 1):
            refund_id = str(uuid.uuid4())
            body = {"refund_id": refund_id, "payment_id": payment_id, "amount": amount}
            headers = {**sandbox.secret, "Idempotency-Key": f"refund:{refund_id}"}
            assert (await sandbox.http.post("/v1/refunds", json=body, headers=headers)).status_code == 201
        refunds = await receiver.wait_for("refund.succeeded", payment_id, count=5, timeout=30)
        assert [e["data"]["amount"] for e in refunds] == [5, 4, 3, 2, 1]


async def test_different_payments_are_delivered_side_by_side() -> None:
    async with (
        WebhookRecorder.serving(delay=0.3) as receiver,
        own_sandbox(receiver.url, sandbox_card_settle_seconds=0) as sandbox,
    ):
        payment_ids = [str(uuid.uuid4()) for _ in range(8)]
        for payment_id in payment_ids:
            assert (
                await sandbox.charge(await sandbox.tokenize_card(), payment_id=payment_id)
            ).status_code == 201
        for payment_id in payment_ids:
            await receiver.wait_for("payment.succeeded", payment_id)
        assert 1 < receiver.max_in_flight <= sandbox.settings.sandbox_webhook_workers


async def test_a_receiver_that_keeps_refusing_with_a_4xx_gets_five_tries_then_is_dropped() -> None:
    """A receiver with another secret answers 400 to every signature: dropped after five tries, and the
    payment's later webhooks are not held back by it."""
    async with (
        WebhookRecorder.serving(secret="not-the-sandbox-secret") as receiver,
        own_sandbox(receiver.url, sandbox_webhook_retry_max_seconds=0.1) as sandbox,
    ):
        payment_id = str(uuid.uuid4())
        assert (await sandbox.charge(await sandbox.tokenize_card(), payment_id=payment_id)).status_code == 201
        await eventually(lambda: _dropped(sandbox), timeout=20)
        assert await _dropped(sandbox) == [("payment.succeeded", 5)]
        assert len(receiver.events("payment.succeeded", payment_id)) == 5  # each try reached it
        assert not any(d.signature_valid for d in receiver.deliveries)
        refund = {"refund_id": str(uuid.uuid4()), "payment_id": payment_id, "amount": 100}
        headers = {**sandbox.secret, "Idempotency-Key": f"refund:{refund['refund_id']}"}
        assert (await sandbox.http.post("/v1/refunds", json=refund, headers=headers)).status_code == 201
        await receiver.wait_for("refund.succeeded", payment_id)


async def _dropped(sandbox: Sandbox) -> list[tuple[str, int]]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": sandbox.settings.db_schema})
    try:
        rows = await conn.fetch("SELECT type, attempts FROM webhooks WHERE dropped_at IS NOT NULL")
        return [(r["type"], r["attempts"]) for r in rows]
    finally:
        await conn.close()


async def test_a_webhook_continues_the_trace_of_the_request_that_caused_it(
    sandbox: Sandbox, receiver: WebhookRecorder
) -> None:
    trace_id = uuid.uuid4().hex
    payment_id = str(uuid.uuid4())
    token = await sandbox.tokenize_card("4000000000000259")  # succeeded, disputed, lost: three timers deep
    body = {
        "payment_id": payment_id,
        "payment_method": token,
        "amount": 1000,
        "firm_id": "firm-traced",
        "bank_account_id": "ba-trust",
        "fee_bank_account_id": "ba-operating",
    }
    headers = {
        **sandbox.secret,
        "Idempotency-Key": f"payment:{payment_id}",
        "traceparent": f"00-{trace_id}-{'1' * 16}-01",
    }
    assert (await sandbox.http.post("/v1/payments", json=body, headers=headers)).status_code == 201
    await receiver.wait_for("dispute.closed", payment_id)
    traced = [d for d in receiver.deliveries if d.event["data"].get("payment_id") == payment_id]
    assert [d.event["type"] for d in traced] == ["payment.succeeded", "dispute.created", "dispute.closed"]
    assert all(d.traceparent and d.traceparent.split("-")[1] == trace_id for d in traced)
