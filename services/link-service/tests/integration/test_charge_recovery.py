"""A charge or a refund taken by the processor whose answer link-service never recorded (the process died, or
the answer was lost) is finished by the recovery task of the next process: the same idempotency key, one
charge, one refund."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from link_service.app import create_app
from link_service.processor import (
    ChargeOutcome,
    ChargeRequest,
    ProcessorUnavailable,
    RefundOutcome,
    RefundRequest,
)
from link_service.processor.http import HttpProcessor
from paylinks_runtime.testing import DATABASE_URL, auth_header, drop_schema, eventually
from paylinks_runtime.testing import serving as runtime_serving

from .conftest import LinkService, fast_settings, free_socket, sandbox_process, serving


class AnswerLost:
    """The real adapter, except that every answer is lost after the processor acted on the request."""

    def __init__(self, processor: HttpProcessor) -> None:
        self._processor = processor

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        await self._processor.charge(request)
        raise ProcessorUnavailable("the answer was lost")

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        await self._processor.refund(request)
        raise ProcessorUnavailable("the answer was lost")

    async def aclose(self) -> None:
        await self._processor.aclose()


class RefundAnswerLost(AnswerLost):
    """Charges answer; refunds are made, and their answers lost."""

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        return await self._processor.charge(request)


async def test_a_charge_left_unrecorded_is_recorded_once_by_the_next_process(producer: Any) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    async with sandbox_process(f"http://127.0.0.1:{port}") as sandbox:
        settings = fast_settings(port, sandbox.base_url, payment_recovery_after_seconds=3600)
        try:
            losing = AnswerLost(HttpProcessor(sandbox.base_url, settings.processor_api_key))
            async with (
                runtime_serving(create_app(settings, losing), sock),
                serving_client(settings) as client,
            ):
                service = LinkService(client, settings, producer, sandbox)
                _, _, token = await service.new_account_token()
                body = await service.card_payment(4_200)
                response = await service.pay(token, body, key="k-1")
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "payment_pending"
                replay = await service.pay(token, body, key="k-1")
                assert replay.status_code == 409  # still charging, as far as link-service knows
            payment_id = await _only_attempt(settings.db_schema)
            assert len(await sandbox.charges(payment_id)) == 1
            restarted = settings.model_copy(update={"payment_recovery_after_seconds": 0.0})
            async with serving(restarted, free_socket()):
                await eventually(lambda: _received(settings.db_schema, payment_id), timeout=30)
            assert len(await sandbox.charges(payment_id)) == 1
        finally:
            await drop_schema(settings.db_schema)


async def test_a_refund_left_unrecorded_is_sent_again_once_by_the_next_process(producer: Any) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    async with sandbox_process(f"http://127.0.0.1:{port}") as sandbox:
        settings = fast_settings(port, sandbox.base_url, payment_recovery_after_seconds=3600)
        try:
            losing = RefundAnswerLost(HttpProcessor(sandbox.base_url, settings.processor_api_key))
            async with (
                runtime_serving(create_app(settings, losing), sock),
                serving_client(settings) as client,
            ):
                service = LinkService(client, settings, producer, sandbox)
                firm, _, token = await service.new_account_token()
                paid = await service.pay(token, await service.card_payment(4_200))
                payment_id = paid.json()["payment_id"]
                await eventually(lambda: _has(settings.db_schema, payment_id, "PaymentProcessed"), timeout=30)
                refund = await client.post(
                    f"/v1/payments/{payment_id}/refunds",
                    json={"amount": 4_200, "reason": "overpaid"},
                    headers=auth_header(firm, roles=("staff", "admin")),
                )
                assert refund.status_code == 202, refund.text  # recorded: the upkeep sends it again
                assert refund.json()["status"] == "pending"
            refund_id = refund.json()["refund_id"]
            assert await _refund_state(settings.db_schema, refund_id) == "sending"
            restarted = settings.model_copy(update={"payment_recovery_after_seconds": 0.0})
            async with serving(restarted, free_socket()):
                await eventually(lambda: _refund_sent(settings.db_schema, refund_id), timeout=30)
            assert await _sandbox_refunds(sandbox.settings.db_schema, payment_id) == [refund_id]
        finally:
            await drop_schema(settings.db_schema)


def serving_client(settings: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=settings.public_base_url, timeout=20)


async def _only_attempt(schema: str) -> str:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        [row] = await conn.fetch("SELECT payment_id, state FROM payment_attempts WHERE state = 'charging'")
        return str(row["payment_id"])
    finally:
        await conn.close()


async def _received(schema: str, payment_id: str) -> bool:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'PaymentReceived'", payment_id
        )
        return bool(count == 1)
    finally:
        await conn.close()


async def _has(schema: str, payment_id: str, event_type: str) -> bool:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = $2", payment_id, event_type
        )
        return bool(count)
    finally:
        await conn.close()


async def _refund_state(schema: str, refund_id: str) -> str | None:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        state: str | None = await conn.fetchval(
            "SELECT state FROM refund_requests WHERE refund_id = $1", refund_id
        )
        return state
    finally:
        await conn.close()


async def _refund_sent(schema: str, refund_id: str) -> bool:
    return await _refund_state(schema, refund_id) == "sent"


async def _sandbox_refunds(schema: str, payment_id: str) -> list[str]:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(
            "SELECT r.refund_id FROM refunds r JOIN charges c ON c.id = r.charge_id WHERE c.payment_id = $1",
            payment_id,
        )
        return [r["refund_id"] for r in rows]
    finally:
        await conn.close()
