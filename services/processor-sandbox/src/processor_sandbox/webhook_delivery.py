"""Delivers queued webhooks, signed (Processor-Signature), at least once.

A small pool of workers each claims one due webhook at a time with a lease (so a crash mid-delivery means
a redelivery after the lease, never a loss) and posts it. A webhook is not claimed while an earlier one of
the same payment awaits its first attempt: first deliveries go out in the order things happened, while
different payments go out side by side. A retried delivery may overtake (receivers cope, per the contract).
A 2xx ends it; a 5xx, 409, 429 or no connection is retried with exponential backoff, forever; any other 4xx
is dropped after `sandbox_webhook_max_client_errors` tries, and logged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
import httpx
import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode

from paylinks_runtime import webhook_signature
from paylinks_runtime.db import database_unavailable
from paylinks_runtime.retry import Backoff
from paylinks_runtime.tracing import context_from, current_trace_headers, tracer
from paylinks_runtime.wakeup import woken_or_polled

from .config import Settings
from .metrics import WEBHOOK_FAILURES, WEBHOOKS_DELIVERED

log = structlog.get_logger(__name__)

_RETRIED_CLIENT_ERRORS = {409, 429}

# The oldest due webhook free to go: none of its ordering key's earlier open webhooks still awaits a first
# attempt. Said as "it is the first of its key's open webhooks, leaving out those already attempted", a
# lookup by key that stops at its first row, so the claim walks the open webhooks in order (index
# webhooks_open) and stops at the first free one, whatever the planner believes about how many are open.
NEXT_DUE = (
    "SELECT w.seq FROM webhooks w"
    " WHERE w.delivered_at IS NULL AND w.dropped_at IS NULL AND w.next_attempt_at <= now()"
    " AND w.seq = (SELECT e.seq FROM webhooks e WHERE e.ordering_key = w.ordering_key"
    "  AND e.delivered_at IS NULL AND e.dropped_at IS NULL AND (e.attempts = 0 OR e.seq = w.seq)"
    "  ORDER BY e.seq LIMIT 1)"
    " ORDER BY w.seq LIMIT 1 FOR UPDATE SKIP LOCKED"
)
# Leased, not attempted yet: the attempt counts once it is made (`_record`).
_CLAIM = (
    "UPDATE webhooks SET next_attempt_at = now() + make_interval(secs => $1)"  # noqa: S608 - constants only
    f" WHERE seq = ({NEXT_DUE}) RETURNING seq, id, type, body, attempts, traceparent"
)


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry: bool  # False: a client error the receiver will keep giving; counts towards dropping it
    error: str | None = None


class WebhookDelivery:
    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, settings: Settings) -> None:
        self._pool = pool
        self._client = client
        self._settings = settings
        self._backoff = Backoff(
            settings.sandbox_webhook_retry_base_seconds, cap=settings.sandbox_webhook_retry_max_seconds
        )

    async def deliver_next(self) -> bool:
        """Claim and deliver one due webhook; False when there was none."""
        claimed = await self._claim()
        if claimed is None:
            return False
        with tracer().start_as_current_span(
            "sandbox webhook", context=context_from(claimed["traceparent"]), kind=SpanKind.CLIENT
        ) as span:
            attempt = await self._post(claimed["body"].encode())
            if not attempt.delivered:
                span.set_status(Status(StatusCode.ERROR, attempt.error))
            await self._record(claimed, attempt)  # in the span: a failure's line carries its trace
        return True

    async def _claim(self) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn, conn.transaction():
            return await conn.fetchrow(_CLAIM, self._settings.sandbox_webhook_lease_seconds)

    async def _post(self, body: bytes) -> Attempt:
        signature = webhook_signature.sign(self._settings.webhook_secret, int(time.time()), body)
        headers = {
            webhook_signature.HEADER: signature,
            "Content-Type": "application/json",
            **current_trace_headers(),  # the receiver's handling joins the trace of what caused the event
        }
        try:
            response = await self._client.post(
                self._settings.processor_webhook_url, content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            return Attempt(delivered=False, retry=True, error=type(exc).__name__)
        if response.is_success:
            return Attempt(delivered=True, retry=False)
        status = response.status_code
        retry = status >= 500 or status in _RETRIED_CLIENT_ERRORS or status < 400
        return Attempt(delivered=False, retry=retry, error=f"HTTP {status}")

    async def _record(self, webhook: asyncpg.Record, attempt: Attempt) -> None:
        if attempt.delivered:
            WEBHOOKS_DELIVERED.labels(webhook["type"]).inc()
            await self._pool.execute(
                "UPDATE webhooks SET delivered_at = now(), attempts = attempts + 1, last_error = NULL"
                " WHERE seq = $1",
                webhook["seq"],
            )
            return
        attempts = webhook["attempts"] + 1
        drop = not attempt.retry and attempts >= self._settings.sandbox_webhook_max_client_errors
        WEBHOOK_FAILURES.labels(webhook["type"], str(drop).lower()).inc()
        log.warning(
            "webhook dropped" if drop else "webhook not delivered; retrying",
            webhook_id=webhook["id"],
            type=webhook["type"],
            attempts=attempts,
            error=attempt.error,
        )
        await self._pool.execute(
            "UPDATE webhooks SET attempts = $2, last_error = $3,"
            " next_attempt_at = now() + make_interval(secs => $4),"
            " dropped_at = CASE WHEN $5 THEN now() END WHERE seq = $1",
            webhook["seq"],
            attempts,
            attempt.error,
            self._backoff.delay(attempts),
            drop,
        )


async def run_worker(delivery: WebhookDelivery, wake: asyncio.Event, poll_seconds: float) -> None:
    """One of the pool's workers: deliver while there is work, else wait for a wake-up or the next poll."""
    while True:
        try:
            if await delivery.deliver_next():
                continue
        except Exception as exc:  # the worker must outlive any one failure (the database restarting, a bug)
            log_failure(log, "webhook delivery failed; retrying", exc)
        await woken_or_polled(wake, poll_seconds)


def log_failure(logger: structlog.stdlib.BoundLogger, message: str, exc: Exception) -> None:
    """A database outage is a warning without a traceback (it repeats every poll until the database is back);
    anything else is a bug, with its traceback."""
    if database_unavailable(exc):
        logger.warning(message, error=repr(exc))
    else:
        logger.error(message, exc_info=exc)
