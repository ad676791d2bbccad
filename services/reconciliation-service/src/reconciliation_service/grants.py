"""What became of each emailed grant (table `redeemed_grants`): opened once, then spent by one link action."""

from __future__ import annotations

import asyncpg

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.auth import PaymentGrant

GRANT_SPENT = "grant_spent"


async def redeem(conn: asyncpg.Connection, grant: PaymentGrant) -> bool:
    """Record the grant's first opening; False if it was opened before (the URL is single-use)."""
    await conn.execute("DELETE FROM redeemed_grants WHERE expires_at < now()")
    inserted = await conn.fetchval(
        "INSERT INTO redeemed_grants (grant_id, firm_id, payment_id, recipient, expires_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (grant_id) DO NOTHING RETURNING true",
        grant.grant_id,
        grant.firm_id,
        grant.payment_id,
        grant.recipient,
        grant.expires_at,
    )
    return bool(inserted)


async def spent(conn: asyncpg.Connection, grant: PaymentGrant) -> bool | None:
    """Whether the grant was spent on its link action; None if it was never opened through its URL."""
    found = await conn.fetchval(
        "SELECT spent_at IS NOT NULL FROM redeemed_grants WHERE grant_id = $1", grant.grant_id
    )
    return None if found is None else bool(found)


async def spend(conn: asyncpg.Connection, grant: PaymentGrant) -> None:
    """Spend the grant on the link action of the same transaction; refused if already spent."""
    spent = await conn.fetchval(
        "UPDATE redeemed_grants SET spent_at = now() WHERE grant_id = $1 AND spent_at IS NULL RETURNING true",
        grant.grant_id,
    )
    if not spent:
        raise DomainError(GRANT_SPENT, "this email link was already used to link the payment; sign in")
