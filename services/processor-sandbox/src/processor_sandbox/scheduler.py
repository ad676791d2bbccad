"""Applies due timers (settlements, disputes, returns, refunds), each in its own transaction with the
webhook it causes, so a crash applies a timer completely or not at all, and a restart picks up the rest."""

from __future__ import annotations

import contextlib
import json

import asyncpg
import structlog
from opentelemetry import context as otel_context

from paylinks_runtime.errors import ApiError
from paylinks_runtime.tracing import context_from

from . import charges, reversals, timers
from .config import Settings

log = structlog.get_logger(__name__)

_BATCH = 50
_RETRY_SECONDS = 5.0  # a timer whose action failed (a bug, a lost connection) is tried again after this


async def apply_due(pool: asyncpg.Pool, settings: Settings) -> int:
    """Apply every timer due now; return how many were applied."""
    applied = 0
    async with pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(
            "SELECT * FROM timers WHERE due_at <= now() ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
            _BATCH,
        )
        for timer in due:
            applied += await _apply_one(conn, timer, settings)
    return applied


async def _apply_one(conn: asyncpg.Connection, timer: asyncpg.Record, settings: Settings) -> int:
    trace_token = otel_context.attach(context_from(timer["traceparent"]))  # the cause's trace
    try:
        async with conn.transaction():  # a savepoint: one failing timer does not hold back the others
            await _run(conn, timer["action"], timer["subject_id"], json.loads(timer["params"]), settings)
            await conn.execute("DELETE FROM timers WHERE id = $1", timer["id"])
        return 1
    except (asyncpg.PostgresConnectionError, OSError):
        raise
    except Exception:
        log.exception(
            "sandbox timer failed; retrying later", action=timer["action"], subject=timer["subject_id"]
        )
        await conn.execute(
            "UPDATE timers SET due_at = now() + make_interval(secs => $2) WHERE id = $1",
            timer["id"],
            _RETRY_SECONDS,
        )
        return 0
    finally:
        otel_context.detach(trace_token)


async def _run(
    conn: asyncpg.Connection, action: str, subject_id: str, params: dict[str, str], settings: Settings
) -> None:
    if action == timers.SETTLE_PAYMENT:
        await charges.settle(conn, subject_id, settings)
    elif action == timers.OPEN_DISPUTE:
        await _open_scenario_dispute(conn, subject_id, params["outcome"], settings)
    elif action == timers.CLOSE_DISPUTE:
        await reversals.close_dispute(conn, subject_id, params["outcome"])
    elif action == timers.RETURN_PAYMENT:
        await _return_scenario_payment(conn, subject_id, params["reason"])
    elif action == timers.SETTLE_REFUND:
        await reversals.settle_refund(conn, subject_id)
    else:
        raise ValueError(f"unknown timer action {action!r}")


async def _open_scenario_dispute(
    conn: asyncpg.Connection, charge_id: str, outcome: str, settings: Settings
) -> None:
    """The disputed test card's dispute, unless the payment has nothing left to dispute (refunded)."""
    charge = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", charge_id)
    if charge is None or charge["status"] != "succeeded" or await reversals.refundable(conn, charge) <= 0:
        return
    await reversals.open_dispute(
        conn, charge, settings, outcome=outcome, reason=reversals.DEFAULT_DISPUTE_REASON
    )


async def _return_scenario_payment(conn: asyncpg.Connection, charge_id: str, reason: str) -> None:
    charge = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", charge_id)
    if charge is None or charge["method"] != "echeck" or charge["status"] != "succeeded":
        return
    with contextlib.suppress(ApiError):  # refunded in full meanwhile: nothing left for the bank to take
        await reversals.return_payment(conn, charge, reason)
