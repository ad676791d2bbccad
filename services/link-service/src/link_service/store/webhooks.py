"""Processor webhook ids already applied."""

from __future__ import annotations

import asyncpg


async def first_delivery(conn: asyncpg.Connection, webhook_id: str) -> bool:
    """Record the id (in the caller's transaction); False when it was applied before."""
    return bool(
        await conn.fetchval(
            "INSERT INTO processor_webhooks (webhook_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true",
            webhook_id,
        )
    )
