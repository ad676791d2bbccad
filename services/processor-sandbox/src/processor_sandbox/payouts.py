"""Payouts: per bank account (and currency), every ledger line settled and not yet paid out, in one payout
whose amount is the sum of its lines (negative when more went out than came in: a debit).

`group` is the arithmetic, without I/O; `pay_out` claims the lines and records the payouts. A line is
claimed under a row lock that a concurrent payout skips, and marked with its payout in the same
transaction: two payout runs at once never pay a line twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from . import webhook_outbox
from .ids import new_id


@dataclass(frozen=True)
class PayoutLine:
    id: int
    firm_id: str
    bank_account_id: str
    currency: str
    type: str
    payment_id: str
    refund_id: str | None
    fee_id: str | None
    amount: int

    def wire(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "payment_id": self.payment_id,
            "refund_id": self.refund_id,
            "fee_id": self.fee_id,
            "amount": self.amount,
        }


@dataclass
class PayoutDraft:
    firm_id: str
    bank_account_id: str
    currency: str
    lines: list[PayoutLine] = field(default_factory=list)

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)


def group(lines: Iterable[PayoutLine]) -> list[PayoutDraft]:
    """One payout per (firm, bank account, currency), lines in the order they settled."""
    drafts: dict[tuple[str, str, str], PayoutDraft] = {}
    for line in sorted(lines, key=lambda line: line.id):
        key = (line.firm_id, line.bank_account_id, line.currency)
        drafts.setdefault(key, PayoutDraft(*key)).lines.append(line)
    return list(drafts.values())


async def pay_out(
    pool: asyncpg.Pool, firm_id: str | None = None, today: date | None = None
) -> list[dict[str, Any]]:
    """Pay out everything settled and not yet paid out (of one firm, or all); return the payouts made."""
    arrival = today or datetime.now(UTC).date()
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, firm_id, bank_account_id, currency, type, payment_id, refund_id, fee_id, amount"
            " FROM ledger_lines WHERE payout_id IS NULL AND ($1::text IS NULL OR firm_id = $1)"
            " ORDER BY id FOR UPDATE SKIP LOCKED",
            firm_id,
        )
        return [await _record(conn, draft, arrival) for draft in group(PayoutLine(**dict(r)) for r in rows)]


async def _record(conn: asyncpg.Connection, draft: PayoutDraft, arrival: date) -> dict[str, Any]:
    payout_id = new_id("po")
    await conn.execute(
        "INSERT INTO payouts (id, firm_id, bank_account_id, currency, amount, arrival_date)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        payout_id,
        draft.firm_id,
        draft.bank_account_id,
        draft.currency,
        draft.amount,
        arrival,
    )
    await conn.execute(
        "UPDATE ledger_lines SET payout_id = $1 WHERE id = ANY($2::bigint[])",
        payout_id,
        [line.id for line in draft.lines],
    )
    data = {
        "firm_id": draft.firm_id,
        "payout_id": payout_id,
        "bank_account_id": draft.bank_account_id,
        "amount": draft.amount,
        "currency": draft.currency,
        "arrival_date": arrival.isoformat(),
        "lines": [line.wire() for line in draft.lines],
    }
    await webhook_outbox.enqueue(conn, payout_id, "payout.paid", data)
    return data
