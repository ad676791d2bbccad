"""What kind of stream an id names in this service's event store."""

from __future__ import annotations

import asyncpg


async def stream_type(conn: asyncpg.Connection, stream_id: str) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT stream_type FROM events WHERE stream_id = $1 AND version = 1", stream_id
    )
    return found
