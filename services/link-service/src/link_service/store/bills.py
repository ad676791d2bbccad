"""The bills view, fed by billing.events. Events of one bill share a key, so they arrive in order."""

from __future__ import annotations

import asyncpg

from ..domain.pay_target import Bill


async def issued(conn: asyncpg.Connection, bill: Bill) -> None:
    await conn.execute(
        "INSERT INTO bills (bill_id, firm_id, amount, balance, currency, state)"
        " VALUES ($1, $2, $3, $3, $4, 'open')"
        " ON CONFLICT (bill_id) DO NOTHING",
        bill.bill_id,
        bill.firm_id,
        bill.amount,
        bill.currency,
    )


async def balance_changed(conn: asyncpg.Connection, bill_id: str, balance: int) -> None:
    await conn.execute("UPDATE bills SET balance = LEAST(balance, $2) WHERE bill_id = $1", bill_id, balance)


async def reversed_payment(conn: asyncpg.Connection, bill_id: str, balance: int) -> bool:
    """A payment given back to the bill's balance (BillPaymentReversed): the balance is billing's, and a paid
    bill is open again. True when the bill had been paid (its links reopen); a void bill stays void."""
    state: str | None = await conn.fetchval("SELECT state FROM bills WHERE bill_id = $1 FOR UPDATE", bill_id)
    if state is None or state == "void":
        return False
    await conn.execute("UPDATE bills SET balance = $2, state = 'open' WHERE bill_id = $1", bill_id, balance)
    return state == "paid"


async def close(conn: asyncpg.Connection, bill_id: str, state: str) -> None:
    """The bill's final state: 'paid' (nothing left to pay) or 'void'."""
    await conn.execute(
        "UPDATE bills SET state = $2, balance = CASE WHEN $2 = 'paid' THEN 0 ELSE balance END"
        " WHERE bill_id = $1",
        bill_id,
        state,
    )


async def find(conn: asyncpg.Connection, bill_id: str, firm_id: str) -> Bill | None:
    row = await conn.fetchrow(
        "SELECT bill_id, firm_id, amount, balance, currency, state FROM bills"
        " WHERE bill_id = $1 AND firm_id = $2",
        bill_id,
        firm_id,
    )
    return Bill(**dict(row)) if row else None
