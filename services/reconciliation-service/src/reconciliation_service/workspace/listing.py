"""The workspace's firm-scoped reads: the payments list (filters, search, keyset paging newest first), the
bank accounts, a payment's refunds and deposit. Every statement is made of constant fragments; what staff
typed only ever travels as a parameter."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from paylinks_events.currencies import EXPONENTS

from ..cursor import Position
from ..queries import AFTER_PAYMENT, decorated

_REFUNDED = """(SELECT coalesce(sum(r.amount), 0) FROM refunds r
  WHERE r.firm_id = p.firm_id AND r.payment_id = p.payment_id AND r.status = 'succeeded')"""
_DISPUTE_STATUS = """(SELECT d.status FROM disputes d
  WHERE d.firm_id = p.firm_id AND d.payment_id = p.payment_id
  ORDER BY d.disputed_at DESC NULLS LAST, d.dispute_id DESC LIMIT 1)"""

# The `status` filter: each value a condition on the payment row `p` (the same words as present.TAGS).
STATUS_CONDITIONS = {
    # the to-do queue: money staff must still link (a failed payment moved none; its own filter finds it)
    "unlinked": "p.listed AND p.status IN ('pending', 'ready')",
    "all": "true",
    "pending": "p.status = 'pending'",
    "ready": "p.status = 'ready'",
    "linked": "p.status = 'linked'",
    "failed": "p.status = 'failed'",
    "refunded": f"p.amount > 0 AND {_REFUNDED} >= p.amount",
    "partially_refunded": f"{_REFUNDED} BETWEEN 1 AND p.amount - 1",
    "disputed": f"{_DISPUTE_STATUS} = 'open'",
    "chargeback": f"{_DISPUTE_STATUS} = 'lost'",
    "returned": "p.returned_at IS NOT NULL",
}
_OTHER_EXPONENTS = json.dumps({code: places for code, places in EXPONENTS.items() if places != 2})
_MONEY = re.compile(r"^\$?\s*\d[\d,]*(\.\d{1,4})?$")


@dataclass(frozen=True)
class PaymentFilter:
    firm_id: str
    status: str = "unlinked"
    bank_account_id: str | None = None
    method: str | None = None
    received_from: date | None = None
    received_to: date | None = None  # inclusive
    zone: str = "UTC"  # the days of the date range are the staff member's days
    search: str = ""


@dataclass
class _Where:
    """A conjunction of SQL conditions and their numbered parameters."""

    clauses: list[str] = field(default_factory=list)
    args: list[object] = field(default_factory=list)

    def add(self, condition: str, *values: object) -> None:
        names = []
        for value in values:
            self.args.append(value)
            names.append(f"${len(self.args)}")
        self.clauses.append(condition.format(*names))


def _where(f: PaymentFilter) -> _Where:
    where = _Where()
    where.add("p.firm_id = {}", f.firm_id)
    where.add("p.received_at IS NOT NULL")
    where.add(STATUS_CONDITIONS[f.status])
    if f.bank_account_id:
        where.add("p.bank_account_id = {}", f.bank_account_id)
    if f.method:
        where.add("p.method = {}", f.method)
    if f.received_from:
        where.add("p.received_at >= ({}::date::timestamp AT TIME ZONE {})", f.received_from, f.zone)
    if f.received_to:
        where.add("p.received_at < (({}::date + 1)::timestamp AT TIME ZONE {})", f.received_to, f.zone)
    if f.search:
        _add_search(where, f.search)
    return where


def _add_search(where: _Where, text: str) -> None:
    """Payer name or email, reference (contains), payment id (exact), or an amount typed as money."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    alternatives = (
        "p.payer_name ILIKE {0} OR p.payer_email ILIKE {0} OR p.reference ILIKE {0} OR p.payment_id = {1}"
    )
    if _MONEY.match(text):
        amount = text.replace("$", "").replace(",", "").strip()
        # the amount in each row's own currency units: 10 ^ the currency's exponent (2 unless listed)
        alternatives += (
            " OR p.amount::numeric = {2}::numeric * 10 ^ coalesce(({3}::jsonb ->> upper(p.currency))::int, 2)"
        )
        where.add(f"({alternatives})", pattern, text, amount, _OTHER_EXPONENTS)
    else:
        where.add(f"({alternatives})", pattern, text)


async def payments_page(
    conn: asyncpg.Connection, f: PaymentFilter, before: Position | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` payments older than the keyset position, newest first, decorated for display."""
    where = _where(f)
    if before is not None:
        where.add("(p.received_at, p.payment_id) < ({}, {})", before.received_at, before.payment_id)
    where.args.append(limit)
    page = (
        f"(SELECT p.* FROM payments p WHERE {' AND '.join(where.clauses)}"  # noqa: S608 - constant fragments
        f" ORDER BY p.received_at DESC, p.payment_id DESC LIMIT ${len(where.args)})"
    )
    sql = decorated(page, "," + AFTER_PAYMENT) + " ORDER BY p.received_at DESC, p.payment_id DESC"
    rows: list[asyncpg.Record] = await conn.fetch(sql, *where.args)
    return rows


async def bank_accounts(conn: asyncpg.Connection, firm_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT bank_account_id, name, kind, currency FROM bank_accounts WHERE firm_id = $1"
        " ORDER BY name, bank_account_id",
        firm_id,
    )
    return rows


async def committed_to_refunds(conn: asyncpg.Connection, firm_id: str, payment_id: str) -> int:
    """What refunds already took or are taking (succeeded and pending ones)."""
    amount: int = await conn.fetchval(
        "SELECT coalesce(sum(amount) FILTER (WHERE status IN ('pending', 'succeeded')), 0)::bigint"
        " FROM refunds WHERE firm_id = $1 AND payment_id = $2",
        firm_id,
        payment_id,
    )
    return amount


async def deposit(conn: asyncpg.Connection, firm_id: str, payout_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT payout_id, amount, currency, arrival_date FROM payouts WHERE firm_id = $1 AND payout_id = $2",
        firm_id,
        payout_id,
    )


async def names(
    conn: asyncpg.Connection, firm_id: str, matter_ids: list[str], contact_ids: list[str | None]
) -> dict[str, str]:
    """What staff call the matters ("Smith adoption · 2026-0042") and contacts named by id."""
    rows = await conn.fetch(
        """
        SELECT matter_id AS id, name || coalesce(' · ' || number, '') AS label FROM matters
         WHERE firm_id = $1 AND matter_id = ANY($2::text[])
        UNION ALL
        SELECT contact_id, name FROM contacts WHERE firm_id = $1 AND contact_id = ANY($3::text[])""",
        firm_id,
        matter_ids,
        contact_ids,
    )
    return {row["id"]: row["label"] for row in rows}
