"""Which bill each applied payment went to, and each reversal of it, once: the lookups a reversal needs
beside the Bill stream (reversal events name the payment only), written in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from .domain import Reversal, ReversalTaken

DisputeOutcome = Literal["won", "lost"]


@dataclass(frozen=True)
class BilledPayment:
    payment_id: str
    bill_id: str
    currency: str


@dataclass(frozen=True)
class RecordedReversal:
    from_unallocated: int
    from_bill: int
    closed_outcome: DisputeOutcome | None


async def remember_bill(
    conn: asyncpg.Connection, firm_id: str, payment_id: str, bill_id: str, currency: str
) -> None:
    await conn.execute(
        "INSERT INTO payment_bills (payment_id, firm_id, bill_id, currency) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (payment_id) DO NOTHING",
        payment_id,
        firm_id,
        bill_id,
        currency,
    )


async def billed_payment(conn: asyncpg.Connection, firm_id: str, payment_id: str) -> BilledPayment | None:
    """The bill this firm's payment applied to; None for a payment billing never applied.

    Locked until the transaction ends: reversals of one payment are decided one after the other.
    """
    row = await conn.fetchrow(
        "SELECT payment_id, bill_id, currency FROM payment_bills WHERE payment_id = $1 AND firm_id = $2"
        " FOR UPDATE",
        payment_id,
        firm_id,
    )
    return BilledPayment(**dict(row)) if row else None


async def find(conn: asyncpg.Connection, payment_id: str, key: str) -> RecordedReversal | None:
    row = await conn.fetchrow(
        "SELECT from_unallocated, from_bill, closed_outcome FROM payment_reversals"
        " WHERE payment_id = $1 AND reversal_key = $2",
        payment_id,
        key,
    )
    return RecordedReversal(**dict(row)) if row else None


async def unallocated_taken(conn: asyncpg.Connection, payment_id: str) -> int:
    """What the payment's reversals took from its unallocated part and still hold (a won dispute gave
    its part back)."""
    taken = await conn.fetchval(
        "SELECT coalesce(sum(from_unallocated), 0) FROM payment_reversals"
        " WHERE payment_id = $1 AND closed_outcome IS DISTINCT FROM 'won'",
        payment_id,
    )
    return int(taken)


async def record(
    conn: asyncpg.Connection,
    key: str,
    reversal: Reversal,
    taken: ReversalTaken,
    now: datetime,
    closed_outcome: DisputeOutcome | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO payment_reversals (payment_id, reversal_key, reason, amount, from_unallocated,"
        " from_bill, reversed_at, closed_outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        reversal.payment_id,
        key,
        reversal.reason,
        reversal.amount,
        taken.from_unallocated,
        taken.from_bill,
        now,
        closed_outcome,
    )


async def close_dispute(conn: asyncpg.Connection, payment_id: str, key: str, outcome: DisputeOutcome) -> None:
    await conn.execute(
        "UPDATE payment_reversals SET closed_outcome = $3 WHERE payment_id = $1 AND reversal_key = $2",
        payment_id,
        key,
        outcome,
    )
