"""Inbox retention on the real database: rows past the retention go, recent ones stay."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from paylinks_runtime import inbox_retention
from paylinks_runtime.inbox_retention import prune_inbox


async def _insert(pool: asyncpg.Pool, consumer: str, count: int, age: timedelta) -> None:
    await pool.execute(
        "INSERT INTO inbox (consumer, event_id, processed_at)"
        " SELECT $1, $1 || '-' || i, now() - $3::interval FROM generate_series(1, $2) AS i",
        consumer,
        count,
        age,
    )


async def test_rows_older_than_the_retention_are_deleted_in_batches_and_recent_ones_kept(
    pool: asyncpg.Pool, monkeypatch
) -> None:
    monkeypatch.setattr(inbox_retention, "BATCH", 7)  # several batches, and a last partial one
    await _insert(pool, "old", 30, timedelta(days=31))
    await _insert(pool, "recent", 5, timedelta(days=29))
    await _insert(pool, "now", 5, timedelta(0))

    deleted = await prune_inbox(pool, timedelta(days=30))

    assert deleted == 30
    rows = await pool.fetch("SELECT consumer, count(*) AS n FROM inbox GROUP BY consumer ORDER BY consumer")
    assert [(r["consumer"], r["n"]) for r in rows] == [("now", 5), ("recent", 5)]
    assert await prune_inbox(pool, timedelta(days=30)) == 0
