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
