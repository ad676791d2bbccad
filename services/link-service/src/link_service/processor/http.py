"""The processor's HTTP API (docs/processor-api.md) behind the PaymentProcessor interface.

Each call carries the secret API key and an Idempotency-Key; a transport error, a 5xx or a 409 (our own
earlier send still in flight there) is retried a bounded number of times with the SAME key, so the
processor answers every retry with the first charge instead of making another.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from prometheus_client import Histogram

from paylinks_runtime.retry import Backoff, retry
from paylinks_runtime.tracing import current_trace_headers

from .base import (
    Charged,
    ChargeOutcome,
    ChargeRequest,
    Declined,
    ProcessorUnavailable,
    RefundAccepted,
    RefundOutcome,
    RefundRequest,
    Rejected,
)
from .sender import AiohttpSender, Answer, Sender, TransportError

log = structlog.get_logger(__name__)

_RETRIED_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
# The processor's share of a payment's (or refund's) latency: each call, its retries included.
PROCESSOR_CALLS = Histogram(
    "paylinks_processor_call_seconds", "Calls to the payment processor, retries included", ["path"]
)


class HttpProcessor:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 10.0,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sender: Sender | None = None,
    ) -> None:
        """`sender`: what sends each request (the unit tests' scripted processor); by default aiohttp over
        kept-alive connections (sender.py)."""
        self._secret_headers = {"Authorization": f"Bearer {api_key}"}
        self._client = sender or AiohttpSender(
            base_url, timeout_seconds=timeout_seconds, connect_timeout_seconds=min(timeout_seconds, 3.0)
        )
        self._attempts = attempts
        self._backoff = Backoff(backoff_seconds)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        response = await self._post("/v1/payments", request.as_json(), request.idempotency_key)
        body = _json(response)
        if response.status in (200, 201):
            card = body.get("payment_method") or {}
            return Charged(method=body["method"], last4=card.get("last4"), brand=card.get("brand"))
        error = body.get("error") or {}
        if response.status == 402:
            return Declined(str(error.get("code") or "declined"))
        if response.status == 422:
            return Rejected(str(error.get("code") or "invalid"), str(error.get("message") or ""))
        log.error("processor refused the charge request", status=response.status, code=error.get("code"))
        raise ProcessorUnavailable(f"processor answered {response.status}")

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        response = await self._post("/v1/refunds", request.as_json(), request.idempotency_key)
        if response.status in (200, 201):
            return RefundAccepted()
        error = _json(response).get("error") or {}
        if response.status in (404, 422):  # 404: the processor has no such payment to refund
            return Rejected(str(error.get("code") or "refund_rejected"), str(error.get("message") or ""))
        log.error("processor refused the refund request", status=response.status, code=error.get("code"))
        raise ProcessorUnavailable(f"processor answered {response.status}")

    async def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> Answer:
        started = time.perf_counter()
        try:
            return await self._post_until_answered(path, body, idempotency_key)
        finally:
            PROCESSOR_CALLS.labels(path).observe(time.perf_counter() - started)

    async def _post_until_answered(self, path: str, body: dict[str, Any], idempotency_key: str) -> Answer:
        # The trace context goes along, so a processor can continue the pay request's trace in its webhooks.
        headers = {**self._secret_headers, "Idempotency-Key": idempotency_key, **current_trace_headers()}
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

        async def send() -> Answer:
            response = await self._client.post_json(path, content, headers)
            if response.status in _RETRIED_STATUSES:
                raise _Busy(response.status)
            return response

        try:
            return await retry(
                send,
                backoff=self._backoff,
                attempts=self._attempts,
                retry_if=_unanswered,
                on_retry=lambda exc, _: _log_unanswered(path, exc),
            )
        except (TransportError, _Busy) as exc:
            _log_unanswered(path, exc)
            raise ProcessorUnavailable(
                f"no answer from the processor after {self._attempts} attempts"
            ) from exc


class _Busy(Exception):
    """The processor answered with a status worth sending the same request again for."""

    def __init__(self, status: int) -> None:
        super().__init__(f"processor answered {status}")
        self.status = status


def _unanswered(error: Exception) -> bool:
    return isinstance(error, TransportError | _Busy)


def _log_unanswered(path: str, error: Exception) -> None:
    if isinstance(error, _Busy):
        log.warning("processor busy", path=path, status=error.status)
    else:
        log.warning("processor unreachable", path=path, error=type(error).__name__)


def _json(response: Answer) -> dict[str, Any]:
    try:
        body = json.loads(response.body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
