"""Idempotency-Key records of payment attempts (IETF draft semantics), kept per link.

A key is claimed before the attempt (in its own short transaction, so a concurrent retry sees it in flight),
and completed with the outcome: in the intake transaction on success, separately on a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from paylinks_runtime.aggregate import DomainError

# An attempt still "in flight" after this long died with its process (nothing was committed): take it over.
ABANDONED_AFTER_SECONDS = 60


@dataclass(frozen=True)
class RecordedOutcome:
    payment_id: str | None
    refusal: DomainError | None


async def claim(conn: asyncpg.Connection, link_id: str, key: str, fingerprint: str) -> RecordedOutcome | None:
    """None when the key is ours to use now; the first attempt's outcome when it has one.

    Raises DomainError `idempotency_key_reused` (another body) or `idempotency_key_in_flight`.
    """
    async with conn.transaction():
        if await conn.fetchval(
            "INSERT INTO idempotency_keys (link_id, key, fingerprint) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            link_id,
            key,
            fingerprint,
        ):
            return None
        row = await conn.fetchrow(
            "SELECT fingerprint, completed, payment_id, refusal_code, refusal_message,"
            " created_at < now() - make_interval(secs => $3) AS abandoned"
            " FROM idempotency_keys WHERE link_id = $1 AND key = $2 FOR UPDATE",
            link_id,
            key,
            ABANDONED_AFTER_SECONDS,
        )
        return await _existing(conn, row, link_id, key, fingerprint)


async def _existing(
    conn: asyncpg.Connection, row: asyncpg.Record, link_id: str, key: str, fingerprint: str
) -> RecordedOutcome | None:
    if row["fingerprint"] != fingerprint:
        raise DomainError("idempotency_key_reused", "This Idempotency-Key was used with a different request.")
    if row["completed"]:
        refusal = DomainError(row["refusal_code"], row["refusal_message"]) if row["refusal_code"] else None
        return RecordedOutcome(row["payment_id"], refusal)
    if not row["abandoned"]:
        raise DomainError(
            "idempotency_key_in_flight", "The first request with this key is still being processed."
        )
    await conn.execute(
        "UPDATE idempotency_keys SET created_at = now() WHERE link_id = $1 AND key = $2", link_id, key
    )
    return None


async def complete(
    conn: asyncpg.Connection,
    link_id: str,
    key: str,
    *,
    payment_id: str | None = None,
    refusal: DomainError | None = None,
) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET completed = true,"
        " payment_id = $3, refusal_code = $4, refusal_message = $5 WHERE link_id = $1 AND key = $2",
        link_id,
        key,
        payment_id,
        refusal.code if refusal else None,
        refusal.message if refusal else None,
    )


async def release(conn: asyncpg.Connection, link_id: str, key: str) -> None:
    """Forget an attempt that ended in an unexpected error: the client may retry with the same key."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE link_id = $1 AND key = $2 AND NOT completed", link_id, key
    )
