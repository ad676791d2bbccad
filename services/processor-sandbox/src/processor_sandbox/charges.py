"""Charges: taken now (or declined), settled later by the scheduler, with the webhook of their outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from paylinks_runtime.errors import ApiError

from . import ledger, timers, webhook_outbox
from .config import Settings
from .fees import processing_fee
from .ids import new_id
from .metrics import CHARGES
from .scenarios import FAILURE_REASONS, Scenario

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    payment_method: str
    amount: int
    currency: str
    firm_id: str
    bank_account_id: str
    fee_bank_account_id: str | None
    method: str | None = None


async def create(
    conn: asyncpg.Connection, request: ChargeRequest, idempotency_key: str, settings: Settings
) -> dict[str, Any]:
    """Take the charge; its outcome follows by webhook. Raises the 402 and 422s of docs/processor-api.md."""
    if request.fee_bank_account_id is None:
        raise ApiError(422, "fee_account_required", "fee_bank_account_id is required")
    method = await conn.fetchrow(
        "SELECT * FROM payment_methods WHERE id = $1 FOR UPDATE", request.payment_method
    )
    if method is None:
        raise ApiError(422, "payment_method_invalid", "unknown payment method")
    if method["used_by_charge"] is not None:
        raise ApiError(422, "payment_method_used", "this payment method has already paid for a payment")
    kind = "card" if method["type"] == "card" else "echeck"
    if request.method is not None and request.method != kind:
        raise ApiError(422, "payment_method_mismatch", f"this payment method is not a {request.method}")
    if kind == "echeck" and request.currency != "USD":
        raise ApiError(422, "currency_mismatch", "a US bank account pays in USD only")
    if method["scenario"] == Scenario.CARD_DECLINED:
        # Declined now: nothing recorded, the token stays unused, no webhook follows.
        raise ApiError(402, "card_declined", "the card was declined")
    charge = await _insert(conn, request, method, kind, idempotency_key)
    await conn.execute(
        "UPDATE payment_methods SET used_by_charge = $1 WHERE id = $2", charge["id"], method["id"]
    )
    delay = settings.sandbox_card_settle_seconds if kind == "card" else settings.sandbox_echeck_settle_seconds
    await timers.schedule(conn, timers.SETTLE_PAYMENT, charge["id"], delay)
    CHARGES.labels(kind, "taken").inc()
    log.info(
        "charge taken",
        payment_id=request.payment_id,
        charge_id=charge["id"],
        method=kind,
        amount=request.amount,
    )
    return view(charge)


async def _insert(
    conn: asyncpg.Connection, request: ChargeRequest, method: asyncpg.Record, kind: str, key: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO charges (id, payment_id, firm_id, bank_account_id, fee_bank_account_id, amount,"
        " currency, method, payment_method_id, brand, last4, scenario, status, fee, fee_id, idempotency_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14, $15) RETURNING *",
        new_id("py"),
        request.payment_id,
        request.firm_id,
        request.bank_account_id,
        request.fee_bank_account_id,
        request.amount,
        request.currency,
        kind,
        method["id"],
        method["brand"],
        method["last4"],
        method["scenario"],
        processing_fee(kind, request.amount),
        new_id("fee"),
        key,
    )
    assert row is not None
    return row


async def settle(conn: asyncpg.Connection, charge_id: str, settings: Settings) -> None:
    """The charge's outcome, when its settlement time has come: processed (money and fee lines) or failed."""
    charge = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", charge_id)
    if charge is None or charge["status"] != "pending":
        return
    scenario = Scenario(charge["scenario"])
    reason = FAILURE_REASONS.get(scenario)
    if reason is not None:
        await _fail(conn, charge, reason)
        return
    await conn.execute("UPDATE charges SET status = 'succeeded' WHERE id = $1", charge_id)
    await ledger.add(
        conn,
        ledger.money_line(charge, "payment", charge["amount"]),
        ledger.fee_line(charge, charge["fee_id"], -charge["fee"]),
    )
    await webhook_outbox.enqueue(conn, charge["payment_id"], "payment.succeeded", succeeded_data(charge))
    CHARGES.labels(charge["method"], "succeeded").inc()
    log.info("charge succeeded", payment_id=charge["payment_id"], charge_id=charge_id, fee=charge["fee"])
    if scenario is Scenario.CARD_DISPUTE_LOST:
        await timers.schedule(
            conn, timers.OPEN_DISPUTE, charge_id, settings.sandbox_dispute_seconds, outcome="lost"
        )
    elif scenario is Scenario.ECHECK_R10:
        await timers.schedule(
            conn, timers.RETURN_PAYMENT, charge_id, settings.sandbox_return_seconds, reason="R10"
        )


async def _fail(conn: asyncpg.Connection, charge: asyncpg.Record, reason: str) -> None:
    await conn.execute(
        "UPDATE charges SET status = 'failed', failure_reason = $2 WHERE id = $1", charge["id"], reason
    )
    data = {"firm_id": charge["firm_id"], "payment_id": charge["payment_id"], "reason": reason}
    await webhook_outbox.enqueue(conn, charge["payment_id"], "payment.failed", data)
    CHARGES.labels(charge["method"], "failed").inc()
    log.info("charge failed", payment_id=charge["payment_id"], charge_id=charge["id"], reason=reason)


def succeeded_data(charge: asyncpg.Record) -> dict[str, Any]:
    data = {
        "firm_id": charge["firm_id"],
        "payment_id": charge["payment_id"],
        "fee": charge["fee"],
        "fee_id": charge["fee_id"],
        "fee_bank_account_id": charge["fee_bank_account_id"],
        "method": charge["method"],
        "last4": charge["last4"],
    }
    if charge["brand"] is not None:
        data["brand"] = charge["brand"]
    return data


async def latest(conn: asyncpg.Connection, payment_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    """The payment's charge (the latest one, were there ever several)."""
    query = _LATEST_FOR_UPDATE if lock else _LATEST
    return await conn.fetchrow(query, payment_id)


_LATEST = "SELECT * FROM charges WHERE payment_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
_LATEST_FOR_UPDATE = _LATEST + " FOR UPDATE"


async def all_for(conn: asyncpg.Connection, payment_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM charges WHERE payment_id = $1 ORDER BY created_at, id", payment_id)
    return [listing_item(row) for row in rows]


def view(charge: asyncpg.Record) -> dict[str, Any]:
    """The charge as `POST /v1/payments` and `GET /v1/payments/{payment_id}` show it."""
    payment_method: dict[str, Any] = {
        "type": "card" if charge["method"] == "card" else "us_bank_account",
        "last4": charge["last4"],
    }
    if charge["brand"] is not None:
        payment_method["brand"] = charge["brand"]
    return {
        "id": charge["id"],
        "payment_id": charge["payment_id"],
        "status": charge["status"],
        "method": charge["method"],
        "amount": charge["amount"],
        "currency": charge["currency"],
        "fee": charge["fee"],
        "failure_reason": charge["failure_reason"],
        "payment_method": payment_method,
        "created_at": charge["created_at"].isoformat(),
    }


def listing_item(charge: asyncpg.Record) -> dict[str, Any]:
    """A charge as `GET /v1/sandbox/charges` lists it."""
    return {
        "id": charge["id"],
        "payment_id": charge["payment_id"],
        "amount": charge["amount"],
        "currency": charge["currency"],
        "status": charge["status"],
        "idempotency_key": charge["idempotency_key"],
        "created_at": charge["created_at"].isoformat(),
    }
