"""Read-side queries of the read model. Every query is scoped to one firm: another firm's rows never match."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from .cursor import Position
from .domain import LinkTarget, PaymentRef, TargetRequest

LISTED_STATUSES = ("pending", "ready")

# Suggestions: a contact whose email is the payer's, a matter whose name or number is the payer's reference.
_SUGGESTIONS = """
(SELECT coalesce(jsonb_agg(s), '[]'::jsonb) FROM (
    SELECT 'contact' AS kind, c.contact_id AS id, c.name, NULL::text AS number, 'payer_email' AS reason
      FROM contacts c
     WHERE c.firm_id = p.firm_id AND p.payer_email <> '' AND lower(c.email) = lower(p.payer_email)
    UNION ALL
    SELECT 'matter', m.matter_id, m.name, m.number, 'reference'
      FROM matters m
     WHERE m.firm_id = p.firm_id AND btrim(coalesce(p.reference, '')) <> ''
       AND (lower(m.name) = lower(btrim(p.reference)) OR lower(m.number) = lower(btrim(p.reference)))
    LIMIT 5) s) AS suggestions
"""


# What happened to the money after the payment: refunds that went through, whether one is still pending,
# and the latest dispute.
AFTER_PAYMENT = """
(SELECT coalesce(sum(r.amount) FILTER (WHERE r.status = 'succeeded'), 0)::bigint FROM refunds r
  WHERE r.firm_id = p.firm_id AND r.payment_id = p.payment_id) AS refunded_amount,
(SELECT jsonb_build_object('dispute_id', d.dispute_id, 'status', d.status, 'amount', d.amount,
                           'evidence_due_by', d.evidence_due_by)
   FROM disputes d WHERE d.firm_id = p.firm_id AND d.payment_id = p.payment_id
  ORDER BY d.disputed_at DESC NULLS LAST, d.dispute_id DESC LIMIT 1) AS dispute
"""


def decorated(payments: str, extra: str = "") -> str:
    """Payments rows (`payments`: the table, or a subquery of it) with their account, matter, contact and
    suggestions, and `extra` columns. Made of constant fragments only."""
    return f"""
SELECT p.*, b.name AS bank_account_name, b.kind AS bank_account_kind,
       m.name AS matter_name, m.number AS matter_number, c.name AS contact_name, {_SUGGESTIONS} {extra}
  FROM {payments} p
  LEFT JOIN bank_accounts b ON b.firm_id = p.firm_id AND b.bank_account_id = p.bank_account_id
  LEFT JOIN matters m ON m.firm_id = p.firm_id AND m.matter_id = p.matter_id
  LEFT JOIN contacts c ON c.firm_id = p.firm_id AND c.contact_id = p.contact_id
"""  # noqa: S608


_PAYMENT = decorated("payments", "," + AFTER_PAYMENT)

# The page is chosen from the payments alone (the LIMIT inside a subquery is applied before the joins), so
# a page of 200 costs 200 rows' lookups however many payments wait, whatever the planner's statistics say.
_PAGE_OF_PAYMENTS = """(SELECT * FROM payments
          WHERE firm_id = $1 AND listed AND status = ANY($2::text[])
            AND ($3::text IS NULL OR bank_account_id = $3)
            AND ($4::timestamptz IS NULL OR (received_at, payment_id) > ($4, $5))
          ORDER BY received_at, payment_id
          LIMIT $6)"""
_UNLINKED_PAGE = decorated(_PAGE_OF_PAYMENTS) + " ORDER BY p.received_at, p.payment_id"


@dataclass(frozen=True)
class ListFilter:
    firm_id: str
    statuses: tuple[str, ...] = LISTED_STATUSES
    bank_account_id: str | None = None


async def payment(conn: asyncpg.Connection, ref: PaymentRef) -> asyncpg.Record | None:
    return await conn.fetchrow(
        _PAYMENT + " WHERE p.firm_id = $1 AND p.payment_id = $2", ref.firm_id, ref.payment_id
    )


async def payment_status(conn: asyncpg.Connection, ref: PaymentRef) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM payments WHERE firm_id = $1 AND payment_id = $2", ref.firm_id, ref.payment_id
    )
    return status


async def refund_in_progress(conn: asyncpg.Connection, ref: PaymentRef) -> bool:
    """A refund was requested and its outcome is not known yet."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM refunds WHERE firm_id = $1 AND payment_id = $2 AND status = 'pending'"
            " AND requested_at IS NOT NULL LIMIT 1",
            ref.firm_id,
            ref.payment_id,
        )
    )


async def unlinked_page(
    conn: asyncpg.Connection, where: ListFilter, after: Position | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` listed payments after the keyset position, oldest first (they have waited longest)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _UNLINKED_PAGE,
        where.firm_id,
        list(where.statuses),
        where.bank_account_id,
        after.received_at if after else None,
        after.payment_id if after else None,
        limit,
    )
    return rows


async def totals(conn: asyncpg.Connection, firm_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT p.bank_account_id, b.name AS bank_account_name, b.kind AS bank_account_kind,
               p.status, p.currency,
               count(*) AS count, sum(coalesce(p.unallocated_amount, p.amount))::bigint AS amount,
               min(p.received_at) AS oldest_received_at
          FROM payments p
          LEFT JOIN bank_accounts b ON b.firm_id = p.firm_id AND b.bank_account_id = p.bank_account_id
         WHERE p.firm_id = $1 AND p.listed
         GROUP BY p.bank_account_id, b.name, b.kind, p.status, p.currency
         ORDER BY p.bank_account_id, p.status, p.currency""",
        firm_id,
    )
    return rows


async def history(conn: asyncpg.Connection, ref: PaymentRef) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT event_id, type, at, actor, details FROM payment_history"
        " WHERE firm_id = $1 AND payment_id = $2 ORDER BY at, event_id",
        ref.firm_id,
        ref.payment_id,
    )
    return rows


async def resolve_target(conn: asyncpg.Connection, firm_id: str, request: TargetRequest) -> LinkTarget | None:
    """The matter (with its client) or the contact staff asked for, if the firm has it."""
    if request.matter_id is not None:
        contact_id = await conn.fetchval(
            "SELECT contact_id FROM matters WHERE firm_id = $1 AND matter_id = $2", firm_id, request.matter_id
        )
        return LinkTarget(contact_id=contact_id, matter_id=request.matter_id) if contact_id else None
    found = await conn.fetchval(
        "SELECT true FROM contacts WHERE firm_id = $1 AND contact_id = $2", firm_id, request.contact_id
    )
    return LinkTarget(contact_id=request.contact_id, matter_id=None) if found else None


@dataclass(frozen=True)
class SearchScope:
    """How much of the firm's matters and contacts a search may show."""

    min_length: int  # shorter text finds nothing: no listing the whole firm one letter at a time
    limit: int  # of each kind
    emails: bool  # contacts are found by, and shown with, their email address


async def search_targets(
    conn: asyncpg.Connection, firm_id: str, text: str, scope: SearchScope
) -> list[asyncpg.Record]:
    """The firm's matters (by name or number) and contacts (by name, and by email when the scope allows)
    that contain `text`."""
    if len(text) < scope.min_length:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        (SELECT 'matter' AS kind, matter_id AS id, name, number, NULL::text AS email FROM matters
          WHERE firm_id = $1 AND (name ILIKE $2 OR number ILIKE $2) ORDER BY name, matter_id LIMIT $3)
        UNION ALL
        (SELECT 'contact', contact_id, name, NULL, CASE WHEN $4 THEN email END FROM contacts
          WHERE firm_id = $1 AND (name ILIKE $2 OR ($4 AND email ILIKE $2))
          ORDER BY name, contact_id LIMIT $3)""",
        firm_id,
        pattern,
        scope.limit,
        scope.emails,
    )
    return rows
