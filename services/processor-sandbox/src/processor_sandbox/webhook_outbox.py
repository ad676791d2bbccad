"""Webhooks are written in the transaction that makes their change (an outbox), then delivered by
`webhook_delivery`. The body is fixed here, once: every attempt sends the same bytes and the same id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from paylinks_runtime.tracing import current_trace_headers

from .ids import new_id


async def enqueue(conn: asyncpg.Connection, ordering_key: str, type_: str, data: dict[str, Any]) -> str:
    """Queue `type_` with `data`; `ordering_key` (the payment, or the payout) orders first deliveries."""
    event_id = new_id("evt")
    created = datetime.now(UTC)
    body = json.dumps(
        {"id": event_id, "type": type_, "created": int(created.timestamp()), "data": data},
        separators=(",", ":"),
    )
    await conn.execute(
        "INSERT INTO webhooks (id, ordering_key, type, body, created_at, traceparent)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        event_id,
        ordering_key,
        type_,
        body,
        created,
        current_trace_headers().get("traceparent"),  # the delivery continues the cause's trace
    )
    return event_id
