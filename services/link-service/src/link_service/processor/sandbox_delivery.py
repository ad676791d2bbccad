"""Delivers the sandbox's due settlements as real, signed webhooks (HTTP POST), like a processor would.

A row is deleted only after the webhook was acknowledged (2xx), so a crash or an unreachable endpoint
means a later retry, never a lost outcome; the webhook id stays the same, so a retry has one effect.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import asyncpg
import httpx
import structlog
from opentelemetry.trace import SpanKind

from paylinks_runtime.tracing import context_from, current_trace_headers, tracer

from .. import webhook_signature
from ..config import Settings

if TYPE_CHECKING:
    from paylinks_runtime.service import ServiceRuntime

log = structlog.get_logger(__name__)

_BATCH = 20


class SettlementDelivery:
    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, *, url: str, secret: str) -> None:
        self._pool = pool
        self._client = client
        self._url = url
        self._secret = secret

    async def deliver_due(self) -> int:
        """Send every due settlement once; return how many were acknowledged."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT webhook_id, payment_id, type, reason, attempts, traceparent FROM sandbox_settlements"
                " WHERE due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                _BATCH,
            )
            delivered = 0
            for row in rows:
                delivered += await self._deliver(conn, row)
            return delivered

    async def _deliver(self, conn: asyncpg.Connection, row: asyncpg.Record) -> int:
        if await self._post(row):
            await conn.execute("DELETE FROM sandbox_settlements WHERE webhook_id = $1", row["webhook_id"])
            return 1
        backoff = min(2 ** row["attempts"], 60)
        await conn.execute(
            "UPDATE sandbox_settlements SET attempts = attempts + 1,"
            " due_at = now() + make_interval(secs => $2) WHERE webhook_id = $1",
            row["webhook_id"],
            backoff,
        )
        return 0

    async def _post(self, row: asyncpg.Record) -> bool:
        data = {"payment_id": row["payment_id"], **({"reason": row["reason"]} if row["reason"] else {})}
        body = json.dumps({"id": row["webhook_id"], "type": row["type"], "data": data}).encode()
        signature = webhook_signature.sign(self._secret, int(time.time()), body)
        headers = {webhook_signature.HEADER: signature, "Content-Type": "application/json"}
        try:
            with tracer().start_as_current_span(
                "sandbox webhook", context=context_from(row["traceparent"]), kind=SpanKind.CLIENT
            ):
                headers |= current_trace_headers()  # the webhook continues the pay request's trace
                response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("sandbox webhook not delivered", payment_id=row["payment_id"], error=repr(exc))
            return False
        if response.is_success:
            return True
        log.warning("sandbox webhook refused", payment_id=row["payment_id"], status=response.status_code)
        return False


async def sandbox_settlements(runtime: ServiceRuntime) -> None:
    """Background task of the runtime: deliver due settlements until cancelled."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    async with httpx.AsyncClient(timeout=10.0) as client:
        delivery = SettlementDelivery(
            runtime.pool, client, url=settings.webhook_url, secret=settings.webhook_secret
        )
        while True:
            try:
                await delivery.deliver_due()
            except Exception:  # the task must outlive any one failure, or payments would strand
                log.exception("sandbox settlement delivery failed; retrying")
            await asyncio.sleep(settings.sandbox_poll_seconds)
