"""Payment attempts (see migrations/0003): recorded before the processor is called, finished after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from paylinks_events import DebitAuthorization, Payer
from paylinks_runtime.aggregate import DomainError

from ..domain.payment import Destination, Receipt
from ..processor import ChargeRequest

AttemptState = Literal["charging", "received", "settled", "refused"]


@dataclass(frozen=True)
class Attempt:
    payment_id: str
    state: AttemptState
    refusal: DomainError | None
    charge: ChargeRequest | None
    receipt: Receipt | None


async def start(conn: asyncpg.Connection, charge: ChargeRequest, receipt: Receipt) -> None:
    await conn.execute(
        "INSERT INTO payment_attempts (payment_id, link_id, bill_id, amount, state, charge, receipt)"
        " VALUES ($1, $2, $3, $4, 'charging', $5::jsonb, $6::jsonb)",
        charge.payment_id,
        receipt.to.link_id,
        receipt.to.bill_id,
        receipt.amount,
        _dumps(charge.as_json()),
        _dumps(_receipt_json(receipt)),
    )


async def refuse_before_charge(
    conn: asyncpg.Connection, payment_id: str, link_id: str, refusal: DomainError
) -> None:
    """A refusal is kept too: its Idempotency-Key replays it, and refused attempts leave a trace."""
    await conn.execute(
        "INSERT INTO payment_attempts (payment_id, link_id, state, refusal_code, refusal_message)"
        " VALUES ($1, $2, 'refused', $3, $4)",
        payment_id,
        link_id,
        refusal.code,
        refusal.message,
    )


async def locked(conn: asyncpg.Connection, payment_id: str) -> Attempt | None:
    """The attempt, locked until the caller's transaction ends (the request and recovery may race)."""
    row = await conn.fetchrow("SELECT * FROM payment_attempts WHERE payment_id = $1 FOR UPDATE", payment_id)
    return _attempt(row) if row else None


async def find(conn: asyncpg.Connection, payment_id: str) -> Attempt | None:
    row = await conn.fetchrow("SELECT * FROM payment_attempts WHERE payment_id = $1", payment_id)
    return _attempt(row) if row else None


async def mark_received(conn: asyncpg.Connection, payment_id: str) -> None:
    await _set_state(conn, payment_id, "received")


async def mark_refused(conn: asyncpg.Connection, payment_id: str, refusal: DomainError) -> None:
    await conn.execute(
        "UPDATE payment_attempts SET state = 'refused', refusal_code = $2, refusal_message = $3,"
        " updated_at = now() WHERE payment_id = $1",
        payment_id,
        refusal.code,
        refusal.message,
    )


async def mark_settled(conn: asyncpg.Connection, payment_id: str) -> None:
    """Billing applied it to the bill's balance, or it failed: it no longer counts as pending."""
    await conn.execute(
        "UPDATE payment_attempts SET state = 'settled', updated_at = now()"
        " WHERE payment_id = $1 AND state IN ('charging', 'received')",
        payment_id,
    )


async def stranded(conn: asyncpg.Connection, older_than_seconds: float, limit: int = 50) -> list[str]:
    """Attempts left between the charge and its record (a crash, the processor unreachable)."""
    rows = await conn.fetch(
        "SELECT payment_id FROM payment_attempts WHERE state = 'charging'"
        " AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
        older_than_seconds,
        limit,
    )
    return [r["payment_id"] for r in rows]


async def _set_state(conn: asyncpg.Connection, payment_id: str, state: AttemptState) -> None:
    await conn.execute(
        "UPDATE payment_attempts SET state = $2, updated_at = now() WHERE payment_id = $1", payment_id, state
    )


def _attempt(row: asyncpg.Record) -> Attempt:
    refusal = DomainError(row["refusal_code"], row["refusal_message"]) if row["refusal_code"] else None
    charge = ChargeRequest.from_json(_loads(row["charge"])) if row["charge"] else None
    receipt = _receipt(_loads(row["receipt"])) if row["receipt"] else None
    return Attempt(row["payment_id"], row["state"], refusal, charge, receipt)


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    to, authorization = receipt.to, receipt.authorization
    return {
        "to": {
            "firm_id": to.firm_id,
            "link_id": to.link_id,
            "bank_account_id": to.bank_account_id,
            "bill_id": to.bill_id,
            "currency": to.currency,
            "source": to.source,
        },
        "amount": receipt.amount,
        "method": receipt.method,
        "payer": receipt.payer.model_dump(),
        "reference": receipt.reference,
        "authorization": authorization.model_dump(mode="json") if authorization else None,
    }


def _receipt(data: dict[str, Any]) -> Receipt:
    authorization = data["authorization"]
    return Receipt(
        to=Destination(**data["to"]),
        amount=data["amount"],
        method=data["method"],
        payer=Payer(**data["payer"]),
        reference=data["reference"],
        authorization=DebitAuthorization.model_validate(authorization) if authorization else None,
    )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data)


def _loads(value: str | dict[str, Any]) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))


async def fee_account(conn: asyncpg.Connection, payment_id: str) -> str | None:
    """The operating account the payment's charge named for its fees."""
    account: str | None = await conn.fetchval(
        "SELECT charge ->> 'fee_bank_account_id' FROM payment_attempts WHERE payment_id = $1", payment_id
    )
    return account
