"""Inbox retention: the ids a consumer has applied are kept for INBOX_RETENTION_DAYS, then deleted.

The inbox stops a redelivered record from having a second effect. Kafka redelivers only what came after a
group's last committed offset (a batch, minutes at most after a crash), and a rebuild replays into fresh
tables without the inbox, so a row older than the retention guards nothing; kept forever it would grow by
one row per event per consumer. Moving a live group's offsets back further than the retention would
re-apply events: rebuild instead.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import structlog

from .metrics import INBOX_PRUNED

log = structlog.get_logger(__name__)
BATCH = 10_000  # rows per DELETE: short transactions, never a long lock on a busy table


async def prune_inbox(pool: asyncpg.Pool, older_than: timedelta) -> int:
    """Delete inbox rows processed before now - older_than, a batch at a time; the number deleted."""
    deleted = 0
    while True:
        async with pool.acquire() as conn:
            status = await conn.execute(
                "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
                " SELECT ctid FROM inbox WHERE processed_at < now() - $1::interval LIMIT $2))",
                older_than,
                BATCH,
            )
        count = int(status.rsplit(" ", 1)[1])
        deleted += count
        if count < BATCH:
            return deleted


async def keep_inbox_trimmed(
    pool: asyncpg.Pool, *, service: str, retention: timedelta, interval_seconds: float
) -> None:
    """Background task: prune now and then; a failure (database down) waits for the next round."""
    while True:
        try:
            deleted = await prune_inbox(pool, retention)
            INBOX_PRUNED.labels(service).inc(deleted)
            if deleted:
                log.info("inbox pruned", deleted=deleted, retention_days=retention.days)
        except Exception as exc:
            log.warning("inbox pruning failed; next round will retry", error=repr(exc))
        await asyncio.sleep(interval_seconds)
