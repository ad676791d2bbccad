"""Outcomes that happen later (a settlement, a dispute, its close, a return, a refund's settlement), kept in
Postgres so that a sandbox restart loses none; `scheduler` applies them when due."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from paylinks_runtime.tracing import current_trace_headers

SETTLE_PAYMENT = "settle_payment"
OPEN_DISPUTE = "open_dispute"
CLOSE_DISPUTE = "close_dispute"
RETURN_PAYMENT = "return_payment"
SETTLE_REFUND = "settle_refund"


async def schedule(
    conn: asyncpg.Connection, action: str, subject_id: str, after_seconds: float, **params: Any
) -> None:
    await conn.execute(
        "INSERT INTO timers (due_at, action, subject_id, params, traceparent)"
        " VALUES (now() + make_interval(secs => $1), $2, $3, $4::jsonb, $5)",
        after_seconds,
        action,
        subject_id,
        json.dumps(params),
        current_trace_headers().get("traceparent"),  # the scheduler applies the timer in this trace
    )
