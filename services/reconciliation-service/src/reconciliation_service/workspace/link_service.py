"""Refunds are link-service's (it talks to the processor): the workspace asks its HTTP API, server-side,
with the staff member's own token, so link-service decides who may refund what exactly as for any client."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import httpx


@dataclass(frozen=True)
class RefundOutcome:
    accepted: bool
    message: str  # for staff: what happened, or link-service's reason for refusing


async def request_refund(
    base_url: str, credential: str, payment_id: str, amount: int, reason: str, idempotency_key: str
) -> RefundOutcome:
    """POST /v1/payments/{payment_id}/refunds; the form's idempotency key makes a double submit one refund."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
            response = await client.post(
                f"/v1/payments/{quote(payment_id, safe='')}/refunds",  # an id is one path segment
                json={"amount": amount, "reason": reason},
                headers={"Authorization": f"Bearer {credential}", "Idempotency-Key": idempotency_key},
            )
    except httpx.HTTPError:
        return RefundOutcome(
            False, "The payments service could not be reached; nothing was refunded. Try again."
        )
    if response.status_code in (200, 201, 202):
        return RefundOutcome(True, "Refund requested. It shows here once the processor confirms it.")
    return RefundOutcome(False, _error_message(response))


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"The refund was refused: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"The refund was refused (HTTP {response.status_code})."
