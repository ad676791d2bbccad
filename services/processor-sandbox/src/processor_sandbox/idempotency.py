"""`Idempotency-Key` (docs/processor-api.md): the same key and body get the first response again, another
body 422 `idempotency_key_reused`, a key whose first request is still running 409 `idempotency_key_in_flight`.

The work and its stored response commit in ONE transaction, under a transaction-scoped advisory lock on the
key: a crash half-way leaves nothing behind (not even a key stuck "in flight"), and a concurrent request
with the same key sees the lock taken and gets its 409 at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from paylinks_runtime.errors import ApiError, error_body

# The advisory lock's class id (two-int form: its own key space, apart from other users of the database).
KEY_LOCK_CLASS = 0x70726F63  # "proc"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


Work = Callable[[asyncpg.Connection], Awaitable[Reply]]


def fingerprint(method: str, path: str, payload: Any) -> str:
    """What "the same request" means: method, path and the JSON body, whatever its key order or spacing."""
    canonical = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_once(
    pool: asyncpg.Pool, key: str, request_fingerprint: str, ttl_hours: float, work: Work
) -> Reply:
    async with pool.acquire() as conn, conn.transaction():
        locked = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", KEY_LOCK_CLASS, key
        )
        if not locked:
            raise ApiError(409, "idempotency_key_in_flight", "a request with this Idempotency-Key is running")
        stored = await conn.fetchrow(
            "SELECT fingerprint, status, body FROM idempotency_keys"
            " WHERE key = $1 AND created_at > now() - make_interval(secs => $2::float8 * 3600)",
            key,
            ttl_hours,
        )
        if stored is not None:
            if stored["fingerprint"] != request_fingerprint:
                raise ApiError(
                    422, "idempotency_key_reused", "this Idempotency-Key was used with another body"
                )
            return Reply(stored["status"], json.loads(stored["body"]))
        reply = await _attempt(conn, work)
        await conn.execute(
            "INSERT INTO idempotency_keys (key, fingerprint, status, body) VALUES ($1, $2, $3, $4::jsonb)"
            " ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,"
            " body = excluded.body, created_at = now()",  # a key older than the TTL starts afresh
            key,
            request_fingerprint,
            reply.status,
            json.dumps(reply.body),
        )
        return reply


async def _attempt(conn: asyncpg.Connection, work: Work) -> Reply:
    """The work in a savepoint: an API error (a decline, a 422) undoes its writes and is itself the reply
    to keep; any other error rolls everything back and stores nothing, so a retry runs the work again."""
    try:
        async with conn.transaction():
            return await work(conn)
    except ApiError as exc:
        return Reply(exc.status, error_body(exc.code, exc.message))


async def forget_expired(pool: asyncpg.Pool, ttl_hours: float) -> int:
    result = await pool.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= now() - make_interval(secs => $1::float8 * 3600)",
        ttl_hours,
    )
    return int(result.split()[-1])
