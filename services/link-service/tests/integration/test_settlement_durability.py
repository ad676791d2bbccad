"""The sandbox's pending settlements survive a restart: written with the payment, delivered by whichever
process runs when they fall due."""

from __future__ import annotations

import asyncpg

from paylinks_runtime.testing import DATABASE_URL, drop_schema, eventually

from .conftest import LinkService, card_payment, fast_settings, free_socket, serving


async def test_a_payment_pending_at_shutdown_is_processed_after_the_restart(producer) -> None:
    first_socket = free_socket()
    settings = fast_settings(first_socket.getsockname()[1], sandbox_card_settle_seconds=3600)
    try:
        async with serving(settings, first_socket) as client:
            service = LinkService(client, settings, producer)
            _, _, token = await service.new_account_token()
            response = await service.pay(token, card_payment(4_200))
            assert response.status_code == 202
            payment_id = response.json()["payment_id"]
        conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": settings.db_schema})
        try:
            assert await _stream(conn, payment_id) == ["PaymentReceived"]
            # The hour passes while the service is down.
            assert (
                await conn.execute(
                    "UPDATE sandbox_settlements SET due_at = now() WHERE payment_id = $1", payment_id
                )
                == "UPDATE 1"
            )
            second_socket = free_socket()
            restarted = settings.model_copy(
                update={"public_base_url": f"http://127.0.0.1:{second_socket.getsockname()[1]}"}
            )
            async with serving(restarted, second_socket):
                await eventually(lambda: _processed(conn, payment_id), timeout=60)
            assert await conn.fetchval("SELECT count(*) FROM sandbox_settlements") == 0
        finally:
            await conn.close()
    finally:
        await drop_schema(settings.db_schema)


async def _stream(conn: asyncpg.Connection, payment_id: str) -> list[str]:
    rows = await conn.fetch("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version", payment_id)
    return [r["event_type"] for r in rows]


async def _processed(conn: asyncpg.Connection, payment_id: str) -> bool:
    return await _stream(conn, payment_id) == ["PaymentReceived", "PaymentProcessed"]
