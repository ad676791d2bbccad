"""Processor webhook ids already applied."""

from __future__ import annotations

import asyncpg

from paylinks_runtime.event_store import GUARD_FIRST_PARAMETER

_RECORD = "INSERT INTO processor_webhooks (webhook_id) VALUES ({}) ON CONFLICT DO NOTHING RETURNING true"
# The guard of a report's events (Writer.save_when): the webhook id recorded, or, recorded before, nothing.
FIRST_DELIVERY = _RECORD.format(f"${GUARD_FIRST_PARAMETER}")


async def first_delivery(conn: asyncpg.Connection, webhook_id: str) -> bool:
    """Record the id (in the caller's transaction); False when it was applied before."""
    return bool(await conn.fetchval(_RECORD.format("$1"), webhook_id))
