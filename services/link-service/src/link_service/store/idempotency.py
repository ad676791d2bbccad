"""Idempotency-Key records of payment attempts (IETF draft semantics), kept per link for 24 hours.

A key is claimed in the transaction that records its attempt; the attempt holds the outcome. A concurrent
request with the same key waits on the claim, then finds the attempt: still charging (409), or done (replay).
"""

from __future__ import annotations

import asyncpg

from paylinks_runtime.aggregate import DomainError

KEPT_HOURS = 24  # the industry norm: a client retries within minutes, not days


async def claim(
    conn: asyncpg.Connection, link_id: str, key: str, fingerprint: str, payment_id: str
) -> str | None:
    """None when the key is new (now bound to `payment_id`); else the payment id the key already names.

    Raises DomainError `idempotency_key_reused` when the key came with another request.
    """
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE link_id = $1 AND key = $2"
        " AND created_at < now() - make_interval(hours => $3)",
        link_id,
        key,
        KEPT_HOURS,
    )
    if await conn.fetchval(
        "INSERT INTO idempotency_keys (link_id, key, fingerprint, payment_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true",
        link_id,
        key,
        fingerprint,
        payment_id,
    ):
        return None
    row = await conn.fetchrow(
        "SELECT fingerprint, payment_id FROM idempotency_keys WHERE link_id = $1 AND key = $2", link_id, key
    )
    if row is None:  # expired, and deleted by a concurrent claim between our two statements
        raise DomainError("idempotency_key_in_flight", "A request with this key is being processed.")
    if row["fingerprint"] != fingerprint:
        raise DomainError("idempotency_key_reused", "This Idempotency-Key was used with a different request.")
    first: str = row["payment_id"]
    return first


async def prune(conn: asyncpg.Connection) -> int:
    """Forget keys older than KEPT_HOURS; returns how many."""
    status = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)", KEPT_HOURS
    )
    return int(status.split()[-1])
