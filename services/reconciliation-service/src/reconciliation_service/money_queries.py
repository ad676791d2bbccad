"""Read-side queries of the money after the payment: trust positions as of a time, deposits, the payments
export. Every query is scoped to one firm. A balance "as of" is a sum over the ledger's timed movements."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from .trust import Position

# Each payment of the account with movements up to $3: its net, its open disputes then, and whose money it
# was then: the last link change up to $3 (history orders them by (at, event id), as the read model does),
# else the client of the bill it paid, else nobody (unidentified).
_POSITIONS = """
WITH moves AS (
    SELECT m.payment_id, sum(m.amount)::bigint AS net
      FROM ledger_movements m
      JOIN payments p ON p.firm_id = m.firm_id AND p.payment_id = m.payment_id
     WHERE m.firm_id = $1 AND p.bank_account_id = $2 AND m.at <= $3
     GROUP BY m.payment_id
), owners AS (
    SELECT DISTINCT ON (h.payment_id) h.payment_id, h.type,
           h.details->>'matter_id' AS matter_id, h.details->>'contact_id' AS contact_id
      FROM payment_history h JOIN moves USING (payment_id)
     WHERE h.firm_id = $1 AND h.type IN ('PaymentLinked', 'PaymentUnlinked') AND h.at <= $3
     ORDER BY h.payment_id, h.at DESC, h.event_id DESC
), open_disputes AS (
    SELECT d.payment_id, sum(d.amount)::bigint AS amount
      FROM disputes d JOIN moves USING (payment_id)
     WHERE d.firm_id = $1 AND d.disputed_at <= $3 AND (d.closed_at IS NULL OR d.closed_at > $3)
     GROUP BY d.payment_id
)
SELECT moves.payment_id, moves.net, p.method, p.processed_at, coalesce(od.amount, 0)::bigint AS open_disputes,
       CASE WHEN o.type = 'PaymentLinked' THEN o.matter_id ELSE b.matter_id END AS matter_id,
       CASE WHEN o.type = 'PaymentLinked' THEN o.contact_id ELSE b.contact_id END AS contact_id
  FROM moves
  JOIN payments p ON p.firm_id = $1 AND p.payment_id = moves.payment_id
  LEFT JOIN owners o ON o.payment_id = moves.payment_id
  LEFT JOIN open_disputes od ON od.payment_id = moves.payment_id
  LEFT JOIN bills b ON b.firm_id = $1 AND b.bill_id = p.bill_id
 ORDER BY moves.payment_id
"""

# The bank statement's side: payouts that arrived on or before the day of $3 (UTC).
_DEPOSITED = """
SELECT coalesce(sum(amount), 0)::bigint FROM payouts
 WHERE firm_id = $1 AND bank_account_id = $2 AND arrival_date <= ($3::timestamptz AT TIME ZONE 'UTC')::date
"""

# Fees that name the account, and fee lines in its payouts: on a trust account every one is a bug.
_FEES_ON_ACCOUNT = """
SELECT (SELECT count(*) FROM fees WHERE firm_id = $1 AND bank_account_id = $2 AND charged_at <= $3)
     + (SELECT count(*) FROM payouts o, jsonb_array_elements(o.lines) line
         WHERE o.firm_id = $1 AND o.bank_account_id = $2 AND line->>'type' = 'fee'
           AND o.arrival_date <= ($3::timestamptz AT TIME ZONE 'UTC')::date)
"""


async def bank_account(conn: asyncpg.Connection, firm_id: str, bank_account_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT bank_account_id, name, kind, currency FROM bank_accounts"
        " WHERE firm_id = $1 AND bank_account_id = $2",
        firm_id,
        bank_account_id,
    )


async def positions(
    conn: asyncpg.Connection, firm_id: str, bank_account_id: str, as_of: datetime
) -> list[Position]:
    rows = await conn.fetch(_POSITIONS, firm_id, bank_account_id, as_of)
    return [Position(**dict(r)) for r in rows]


async def deposited(conn: asyncpg.Connection, firm_id: str, bank_account_id: str, as_of: datetime) -> int:
    total: int = await conn.fetchval(_DEPOSITED, firm_id, bank_account_id, as_of)
    return total


async def fees_on_account(
    conn: asyncpg.Connection, firm_id: str, bank_account_id: str, as_of: datetime
) -> int:
    count: int = await conn.fetchval(_FEES_ON_ACCOUNT, firm_id, bank_account_id, as_of)
    return count


async def fees_on_trust(conn: asyncpg.Connection, fee_keys: list[tuple[str, str]]) -> list[asyncpg.Record]:
    """Of these (firm, fee id), the fees charged to a trust account."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT f.firm_id, f.fee_id, f.payment_id, f.bank_account_id, f.amount
          FROM unnest($1::text[], $2::text[]) AS k(firm_id, fee_id)
          JOIN fees f ON f.firm_id = k.firm_id AND f.fee_id = k.fee_id
          JOIN bank_accounts b ON b.firm_id = f.firm_id AND b.bank_account_id = f.bank_account_id
         WHERE b.kind = 'trust'""",
        [firm for firm, _ in fee_keys],
        [fee for _, fee in fee_keys],
    )
    return rows


async def deposits(
    conn: asyncpg.Connection,
    firm_id: str,
    bank_account_id: str | None,
    since: date | None,
    until: date | None,
) -> list[asyncpg.Record]:
    """The firm's payouts (of one account, or all), by arrival date between `since` and `until` inclusive."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT o.payout_id, o.bank_account_id, b.name AS bank_account_name, o.amount, o.currency,
               o.arrival_date, o.lines
          FROM payouts o
          LEFT JOIN bank_accounts b ON b.firm_id = o.firm_id AND b.bank_account_id = o.bank_account_id
         WHERE o.firm_id = $1 AND ($2::text IS NULL OR o.bank_account_id = $2)
           AND ($3::date IS NULL OR o.arrival_date >= $3) AND ($4::date IS NULL OR o.arrival_date <= $4)
         ORDER BY o.arrival_date, o.payout_id""",
        firm_id,
        bank_account_id,
        since,
        until,
    )
    return rows


async def payments_export(
    conn: asyncpg.Connection, firm_id: str, since: date | None, until: date | None
) -> list[asyncpg.Record]:
    """The firm's received or processed payments by day (UTC) between `since` and `until` inclusive, with what
    went back (refunds succeeded, disputes lost, returns) and whose they are: the matter or contact staff
    linked, else the client of the bill it paid (as the trust reconciliation's client ledgers count it)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT p.payment_id, p.status, p.received_at, p.processed_at, p.bank_account_id,
               b.name AS bank_account_name, b.kind AS bank_account_kind, p.method, p.card_brand, p.last4,
               p.payer_name, p.payer_email, p.reference, p.bill_id, p.currency, p.amount, p.fee,
               coalesce(r.refunded, 0)::bigint AS refunded,
               coalesce(d.lost, 0)::bigint AS disputes_lost,
               coalesce(p.returned_amount, 0)::bigint AS returned, p.returned_reason,
               d.latest_status AS dispute_status, owner.matter_id, m.number AS matter_number,
               m.name AS matter_name, owner.contact_id, c.name AS contact_name, p.payout_id
          FROM payments p
          LEFT JOIN bank_accounts b ON b.firm_id = p.firm_id AND b.bank_account_id = p.bank_account_id
          LEFT JOIN bills bl ON bl.firm_id = p.firm_id AND bl.bill_id = p.bill_id
          CROSS JOIN LATERAL (
              SELECT CASE WHEN p.matter_id IS NOT NULL OR p.contact_id IS NOT NULL THEN p.matter_id
                          ELSE bl.matter_id END AS matter_id,
                     CASE WHEN p.matter_id IS NOT NULL OR p.contact_id IS NOT NULL THEN p.contact_id
                          ELSE bl.contact_id END AS contact_id) owner
          LEFT JOIN matters m ON m.firm_id = p.firm_id AND m.matter_id = owner.matter_id
          LEFT JOIN contacts c ON c.firm_id = p.firm_id AND c.contact_id = owner.contact_id
          LEFT JOIN LATERAL (
              SELECT sum(amount) FILTER (WHERE status = 'succeeded') AS refunded FROM refunds
               WHERE firm_id = p.firm_id AND payment_id = p.payment_id) r ON true
          LEFT JOIN LATERAL (
              SELECT sum(amount) FILTER (WHERE status = 'lost') AS lost,
                     (array_agg(status ORDER BY disputed_at DESC NULLS LAST, dispute_id DESC))[1]
                       AS latest_status
                FROM disputes WHERE firm_id = p.firm_id AND payment_id = p.payment_id) d ON true
         WHERE p.firm_id = $1 AND coalesce(p.received_at, p.processed_at) IS NOT NULL
           AND ($2::date IS NULL OR (coalesce(p.received_at, p.processed_at) AT TIME ZONE 'UTC')::date >= $2)
           AND ($3::date IS NULL OR (coalesce(p.received_at, p.processed_at) AT TIME ZONE 'UTC')::date <= $3)
         ORDER BY coalesce(p.received_at, p.processed_at), p.payment_id""",
        firm_id,
        since,
        until,
    )
    return rows
