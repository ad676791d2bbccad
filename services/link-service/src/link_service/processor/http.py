"""The processor's HTTP API (docs/processor-api.md) behind the PaymentProcessor interface.

Each call carries the secret API key and an Idempotency-Key; a transport error, a 5xx or a 409 (our own
earlier send still in flight there) is retried a bounded number of times with the SAME key, so the
processor answers every retry with the first charge instead of making another.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0)),
            transport=transport,
        )
        self._attempts = attempts
        self._backoff = Backoff(backoff_seconds)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        response = await self._post("/v1/payments", request.as_json(), request.idempotency_key)
        body = _json(response)
        if response.status_code in (200, 201):
            card = body.get("payment_method") or {}
            return Charged(method=body["method"], last4=card.get("last4"), brand=card.get("brand"))
        error = body.get("error") or {}
        if response.status_code == 402:
            return Declined(str(error.get("code") or "declined"))
        if response.status_code == 422:
            return Rejected(str(error.get("code") or "invalid"), str(error.get("message") or ""))
        log.error("processor refused the charge request", status=response.status_code, code=error.get("code"))
        raise ProcessorUnavailable(f"processor answered {response.status_code}")

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        response = await self._post("/v1/refunds", request.as_json(), request.idempotency_key)
        if response.status_code in (200, 201):
            return RefundAccepted()
        error = _json(response).get("error") or {}
        if response.status_code in (404, 422):  # 404: the processor has no such payment to refund
            return Rejected(str(error.get("code") or "refund_rejected"), str(error.get("message") or ""))
        log.error("processor refused the refund request", status=response.status_code, code=error.get("code"))
        raise ProcessorUnavailable(f"processor answered {response.status_code}")

    async def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> httpx.Response:
        started = time.perf_counter()
        try:
            return await self._post_until_answered(path, body, idempotency_key)
        finally:
            PROCESSOR_CALLS.labels(path).observe(time.perf_counter() - started)

    async def _post_until_answered(
        self, path: str, body: dict[str, Any], idempotency_key: str
    ) -> httpx.Response:
        # The trace context goes along, so a processor can continue the pay request's trace in its webhooks.
        headers = {"Idempotency-Key": idempotency_key, **current_trace_headers()}

        async def send() -> httpx.Response:
            response = await self._client.post(path, json=body, headers=headers)
            if response.status_code in _RETRIED_STATUSES:
                raise _Busy(response.status_code)
            return response

        try:
            return await retry(
                send,
                backoff=self._backoff,
                attempts=self._attempts,
                retry_if=_unanswered,
                on_retry=lambda exc, _: _log_unanswered(path, exc),
            )
        except (httpx.TransportError, _Busy) as exc:
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
    return isinstance(error, httpx.TransportError | _Busy)


def _log_unanswered(path: str, error: Exception) -> None:
    if isinstance(error, _Busy):
        log.warning("processor busy", path=path, status=error.status)
    else:
        log.warning("processor unreachable", path=path, error=type(error).__name__)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
