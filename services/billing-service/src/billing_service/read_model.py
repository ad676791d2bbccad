"""The bills read model: kept in step with the Bill streams by projecting each saved event in the same
transaction, and queried by the API (always within the caller's firm)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

import asyncpg

from paylinks_events import BillIssued, BillPaid, BillPaymentApplied, BillVoided, Event

from .domain import BillState

Row = dict[str, Any]


async def project(conn: asyncpg.Connection, events: Iterable[Event]) -> None:
    for event in events:
        projector = _PROJECTORS.get(type(event))
        if projector is not None:
            await projector(conn, event)


async def _issued(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute(
        "INSERT INTO bills (bill_id, firm_id, matter_id, contact_id, amount, balance, currency, state,"
        " bill_number, due_date, issued_at) VALUES ($1, $2, $3, $4, $5, $5, $6, 'unpaid', $7, $8, $9)",
        e.bill_id,
        e.firm_id,
        e.matter_id,
        e.contact_id,
        e.amount,
        e.currency,
        e.bill_number,
        date.fromisoformat(e.due_date) if e.due_date else None,
        e.issued_at,
    )


async def _voided(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute("UPDATE bills SET state = 'void' WHERE bill_id = $1", e.bill_id)


async def _payment_applied(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute(
        "UPDATE bills SET balance = $2, state = 'partially_paid' WHERE bill_id = $1", e.bill_id, e.balance
    )
    await conn.execute(
        "INSERT INTO bill_payments (bill_id, payment_id, amount, applied_at) VALUES ($1, $2, $3, $4)",
        e.bill_id,
        e.payment_id,
        e.amount,
        e.applied_at,
    )


async def _paid(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute("UPDATE bills SET state = 'paid' WHERE bill_id = $1", e.bill_id)


_PROJECTORS: dict[type[Event], Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    BillIssued: _issued,
    BillVoided: _voided,
    BillPaymentApplied: _payment_applied,
    BillPaid: _paid,
}

# --- queries -----------------------------------------------------------------------------------------------

_BILL_COLUMNS = (
    "bill_id, state, amount, balance, currency, matter_id, contact_id, bill_number, due_date, issued_at"
)


async def find_bill(conn: asyncpg.Connection, firm_id: str, bill_id: str) -> Row | None:
    """One bill of the firm with its applied payments, oldest first; None if unknown or another firm's."""
    row = await conn.fetchrow(
        f"SELECT {_BILL_COLUMNS} FROM bills WHERE bill_id = $1 AND firm_id = $2",  # noqa: S608 - constant columns
        bill_id,
        firm_id,
    )
    if row is None:
        return None
    payments = await conn.fetch(
        "SELECT payment_id, amount, applied_at FROM bill_payments WHERE bill_id = $1"
        " ORDER BY applied_at, payment_id",
        bill_id,
    )
    return {**dict(row), "payments": [dict(p) for p in payments]}


async def list_bills(
    conn: asyncpg.Connection, firm_id: str, state: BillState | None, limit: int
) -> list[Row]:
    """The firm's bills, newest first, optionally only those in `state`."""
    rows = await conn.fetch(
        f"SELECT {_BILL_COLUMNS} FROM bills WHERE firm_id = $1 AND ($2::text IS NULL OR state = $2)"  # noqa: S608
        " ORDER BY issued_at DESC, bill_id LIMIT $3",
        firm_id,
        state,
        limit,
    )
    return [dict(r) for r in rows]
