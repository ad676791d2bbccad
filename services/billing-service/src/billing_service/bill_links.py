"""The pay links of each bill, learnt from link.events. A void is answered once link-service has revoked
them all (`LinkRevoked`, `bill_voided`): link-service learns of the void from billing.events, and a payer who
paid in between (the probe paid 35 ms after the void's 200) would pay a bill staff were told is void.

Known gap (full chaos run, 2026-12-03): only the links billing has heard of are waited for. A link issued
just before the void, whose `LinkIssued` billing has not consumed yet, counts as none: the void answers
`links_closed: true` at once and a payment on that link is still accepted until link-service reads the
void (tests/security/test_bill_balance.py failed so under load). Closing it needs link-service to say it has
applied the void (an event after its revocations, even of no link), and the void to wait for that."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from paylinks_events import LinkIssued, LinkRevoked

POLL_SECONDS = 0.02


async def record_issued(conn: asyncpg.Connection, event: LinkIssued) -> None:
    if event.bill_id is None:  # a bank account's link: no bill to void
        return
    await conn.execute(
        "INSERT INTO bill_links (link_id, firm_id, bill_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (link_id) DO NOTHING",
        event.link_id,
        event.firm_id,
        event.bill_id,
    )


async def record_revoked(conn: asyncpg.Connection, event: LinkRevoked) -> None:
    """Only a void is final: a link revoked as `bill_paid` reopens when a payment is reversed."""
    if event.reason == "bill_voided":
        await conn.execute(
            "UPDATE bill_links SET voided_at = $2 WHERE link_id = $1 AND voided_at IS NULL",
            event.link_id,
            event.revoked_at,
        )


async def open_links(conn: asyncpg.Connection, firm_id: str, bill_id: str) -> int:
    query = "SELECT count(*) FROM bill_links WHERE firm_id = $1 AND bill_id = $2 AND voided_at IS NULL"
    return int(await conn.fetchval(query, firm_id, bill_id))


async def wait_until_closed(pool: asyncpg.Pool, firm_id: str, bill_id: str, timeout: float) -> bool:
    """True once every known link of the bill is revoked as voided; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        async with pool.acquire() as conn:
            if await open_links(conn, firm_id, bill_id) == 0:
                return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
