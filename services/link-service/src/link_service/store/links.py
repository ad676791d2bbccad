"""The links table: lookup by token hash, and what a link pays into (PayTarget)."""

from __future__ import annotations

import asyncpg

from ..domain.link import Link, RevokeReason
from ..domain.pay_target import Bill, PayTarget

_TARGET = (
    "SELECT l.link_id, l.firm_id, l.kind, l.bank_account_id, a.name AS bank_account_name,"
    " coalesce(b.currency, a.currency) AS currency, l.revoked_reason, f.display_name,"
    " f.minimum_payment_amount,"
    " b.bill_id, b.amount, b.balance, b.state, coalesce(b.pending, 0) AS pending,"
    # The operating account the processor takes the firm's fees from: the one its profile names, else its
    # first operating account; NULL when it has none (a trust account never pays fees).
    " coalesce(f.fee_bank_account_id, (SELECT o.bank_account_id FROM bank_accounts o"
    "   WHERE o.firm_id = l.firm_id AND o.kind = 'operating'"
    "   ORDER BY o.registered_at, o.bank_account_id LIMIT 1)) AS fee_account"
    " FROM links l JOIN bank_accounts a USING (bank_account_id)"
    " LEFT JOIN bills b ON b.bill_id = l.bill_id LEFT JOIN firms f ON f.firm_id = l.firm_id"
)


async def insert(conn: asyncpg.Connection, link: Link, *, token_hash: bytes, token_seed: bytes) -> None:
    await conn.execute(
        "INSERT INTO links (link_id, firm_id, kind, bank_account_id, bill_id, token_hash, token_seed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        link.id,
        link.firm_id,
        link.kind,
        link.bank_account_id,
        link.bill_id,
        token_hash,
        token_seed,
    )


async def token_seed(conn: asyncpg.Connection, link_id: str) -> bytes | None:
    seed: bytes | None = await conn.fetchval("SELECT token_seed FROM links WHERE link_id = $1", link_id)
    return seed


async def target_by_token_hash(conn: asyncpg.Connection, token_hash: bytes) -> PayTarget | None:
    return _target(await conn.fetchrow(_TARGET + " WHERE l.token_hash = $1", token_hash))


async def target(conn: asyncpg.Connection, link_id: str) -> PayTarget | None:
    return _target(await conn.fetchrow(_TARGET + " WHERE l.link_id = $1", link_id))


async def target_for_payment(conn: asyncpg.Connection, link_id: str) -> PayTarget | None:
    """The link's target with its bill's row locked until the caller's transaction ends.

    Payers of one bill (and the void, the payment applied) take turns on that lock, so each sees the attempts
    committed before it, and a payment checked after a void committed sees the bill void.
    """
    await conn.execute(
        "SELECT 1 FROM bills WHERE bill_id = (SELECT bill_id FROM links WHERE link_id = $1) FOR UPDATE",
        link_id,
    )
    return await target(conn, link_id)  # a new statement: it sees what committed while we waited


async def open_links_of_bill(conn: asyncpg.Connection, bill_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT link_id FROM links WHERE bill_id = $1 AND revoked_reason IS NULL", bill_id
    )
    return [r["link_id"] for r in rows]


async def revoked(conn: asyncpg.Connection, link_id: str, reason: RevokeReason) -> None:
    await conn.execute("UPDATE links SET revoked_reason = $2 WHERE link_id = $1", link_id, reason)


async def reopen_paid_links(conn: asyncpg.Connection, bill_id: str) -> list[str]:
    """The bill's links revoked because it was paid, open again (a link revoked as void stays revoked)."""
    rows = await conn.fetch(
        "UPDATE links SET revoked_reason = NULL WHERE bill_id = $1 AND revoked_reason = 'bill_paid'"
        " RETURNING link_id",
        bill_id,
    )
    return [r["link_id"] for r in rows]


def _target(row: asyncpg.Record | None) -> PayTarget | None:
    if row is None:
        return None
    bill = None
    if row["bill_id"] is not None:
        bill = Bill(
            bill_id=row["bill_id"],
            firm_id=row["firm_id"],
            amount=row["amount"],
            balance=row["balance"],
            currency=row["currency"],
            state=row["state"],
        )
    return PayTarget(
        link_id=row["link_id"],
        firm_id=row["firm_id"],
        kind=row["kind"],
        bank_account_id=row["bank_account_id"],
        bank_account_name=row["bank_account_name"],
        currency=row["currency"],
        firm_display_name=row["display_name"],
        minimum_amount=row["minimum_payment_amount"],
        bill=bill,
        revoked_reason=row["revoked_reason"],
        pending=row["pending"],
        fee_account=row["fee_account"],
    )
