"""When a void may be answered: once link-service has applied it (BillLinksClosed on link.events). It revokes
the bill's pay links and refuses payments toward the bill in one transaction and says so with that event,
even for a bill without links, so a payer who pays after the void's answer is refused (the probe of issue #18
paid 35 ms after the void's 200 and was accepted).

Waiting for the links billing has read of instead (LinkIssued, LinkRevoked) left a gap: a link issued just
before the void, whose LinkIssued had not reached billing yet, counted as none, and the void was answered at
once while link-service still took payments on it (the full chaos run's security suite, 2026-12-03)."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from paylinks_events import BillLinksClosed

POLL_SECONDS = 0.02


async def record_closed(conn: asyncpg.Connection, event: BillLinksClosed) -> None:
    await conn.execute(
        "INSERT INTO voids_applied (bill_id, firm_id, links_revoked, closed_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (firm_id, bill_id) DO NOTHING",
        event.bill_id,
        event.firm_id,
        event.links_revoked,
        event.closed_at,
    )


async def void_applied(conn: asyncpg.Connection, firm_id: str, bill_id: str) -> bool:
    query = "SELECT EXISTS (SELECT FROM voids_applied WHERE firm_id = $1 AND bill_id = $2)"
    return bool(await conn.fetchval(query, firm_id, bill_id))


async def wait_until_closed(pool: asyncpg.Pool, firm_id: str, bill_id: str, timeout: float) -> bool:
    """True once link-service has applied the bill's void; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        async with pool.acquire() as conn:
            if await void_applied(conn, firm_id, bill_id):
                return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
