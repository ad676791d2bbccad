"""The bills read model: kept in step with the Bill streams by projecting each saved event in the same
transaction, and queried by the API (always within the caller's firm)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

import asyncpg

from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillPaymentReversed,
    BillVoided,
    Event,
    PaymentUnallocated,
)

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
    # A payment applied again (its dispute won) adds to its row; applied_at stays the first time.
    await conn.execute(
        "INSERT INTO bill_payments (bill_id, payment_id, amount, applied_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (bill_id, payment_id) DO UPDATE SET amount = bill_payments.amount + EXCLUDED.amount",
        e.bill_id,
        e.payment_id,
        e.amount,
        e.applied_at,
    )
    await _history(conn, e.bill_id, "applied", e.payment_id, e.amount, e.balance, None, e.applied_at)


async def _payment_reversed(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute(
        "UPDATE bills SET balance = $2,"
        " state = CASE WHEN $2 = amount THEN 'unpaid' ELSE 'partially_paid' END WHERE bill_id = $1",
        e.bill_id,
        e.balance,
    )
    await conn.execute(
        "UPDATE bill_payments SET amount = amount - $3, reversed_amount = reversed_amount + $3"
        " WHERE bill_id = $1 AND payment_id = $2",
        e.bill_id,
        e.payment_id,
        e.amount,
    )
    await _history(conn, e.bill_id, "reversed", e.payment_id, e.amount, e.balance, e.reason, e.reversed_at)


async def _payment_unallocated(conn: asyncpg.Connection, e: Any) -> None:
    await _history(conn, e.bill_id, "unallocated", e.payment_id, e.amount, None, e.reason, e.unallocated_at)


async def _history(conn: asyncpg.Connection, bill_id: str, *entry: object) -> None:
    await conn.execute(
        "INSERT INTO bill_history (bill_id, type, payment_id, amount, balance, reason, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        bill_id,
        *entry,
    )


async def _paid(conn: asyncpg.Connection, e: Any) -> None:
    await conn.execute("UPDATE bills SET state = 'paid' WHERE bill_id = $1", e.bill_id)


_PROJECTORS: dict[type[Event], Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    BillIssued: _issued,
    BillVoided: _voided,
    BillPaymentApplied: _payment_applied,
    BillPaid: _paid,
    BillPaymentReversed: _payment_reversed,
    PaymentUnallocated: _payment_unallocated,
}

# --- queries -----------------------------------------------------------------------------------------------

_BILL_COLUMNS = (
    "bill_id, state, amount, balance, currency, matter_id, contact_id, bill_number, due_date, issued_at"
)


async def find_bill(conn: asyncpg.Connection, firm_id: str, bill_id: str) -> Row | None:
    """One bill of the firm with its payments and its history, oldest first; None if unknown or another
    firm's. A payment's `amount` is what it has on the bill now, `reversed_amount` what was given back."""
    row = await conn.fetchrow(
        f"SELECT {_BILL_COLUMNS} FROM bills WHERE bill_id = $1 AND firm_id = $2",  # noqa: S608 - constant columns
        bill_id,
        firm_id,
    )
    if row is None:
        return None
    payments = await conn.fetch(
        "SELECT payment_id, amount, reversed_amount, applied_at FROM bill_payments WHERE bill_id = $1"
        " ORDER BY applied_at, payment_id",
        bill_id,
    )
    history = await conn.fetch(
        "SELECT type, payment_id, amount, balance, reason, at FROM bill_history WHERE bill_id = $1"
        " ORDER BY id",
        bill_id,
    )
    return {**dict(row), "payments": [dict(p) for p in payments], "history": [dict(h) for h in history]}


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
