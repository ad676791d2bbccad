"""A process started while its database is unavailable (down, restarting, read-only in a failover) waits
for it instead of failing its start-up: uvicorn then exits with code 3, and the chaos runs met that when a
fault's restart landed in a database outage. An error that is not an outage still fails at once."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from paylinks_runtime import db
from paylinks_runtime.db import open_database
from paylinks_runtime.testing import DATABASE_URL, drop_schema, unique


async def test_a_database_refusing_connections_at_start_up_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = db.create_pool
    refused: list[int] = []

    async def refusing_twice(*args: object, **kwargs: object) -> asyncpg.Pool:
        if len(refused) < 2:
            refused.append(1)
            raise ConnectionRefusedError(111, "Connection refused")  # as asyncpg raises it: an OSError
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(db, "create_pool", refusing_twice)
    monkeypatch.setattr(db, "STARTUP_BACKOFF", db.Backoff(0.01))
    schema = unique("test_start_up")
    pool = await open_database(DATABASE_URL, schema)
    try:
        assert len(refused) == 2
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") > 0  # migrated too
    finally:
        await pool.close()
        await drop_schema(schema)


async def test_a_read_only_database_at_start_up_is_waited_for_then_migrated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = db.migrate
    tries: list[int] = []

    async def read_only_once(pool: asyncpg.Pool, *args: object, **kwargs: object) -> list[str]:
        tries.append(1)
        if len(tries) == 1:  # what a standby answers: the real error of a read-only transaction
            async with pool.acquire() as conn, conn.transaction(readonly=True):
                await conn.execute("CREATE TABLE IF NOT EXISTS never_made (id int)")
        return await real(pool, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(db, "migrate", read_only_once)
    monkeypatch.setattr(db, "STARTUP_BACKOFF", db.Backoff(0.01))
    schema = unique("test_start_up")
    pool = await open_database(DATABASE_URL, schema)
    try:
        assert len(tries) == 2
        assert await pool.fetchval("SELECT to_regclass('never_made')") is None
    finally:
        await pool.close()
        await drop_schema(schema)


async def test_an_error_that_is_not_an_outage_fails_the_start_up_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tries: list[int] = []

    async def broken_migration(pool: asyncpg.Pool, *args: object, **kwargs: object) -> list[str]:
        tries.append(1)
        await pool.execute("SELECT * FROM no_such_table_anywhere")
        return []

    monkeypatch.setattr(db, "migrate", broken_migration)
    schema = unique("test_start_up")
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await open_database(DATABASE_URL, schema)
        assert tries == [1]
    finally:
        await drop_schema(schema)


async def test_a_session_lost_during_a_migration_is_retried_as_an_outage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server ends the migrating session (as a restart does) in the middle of a migration: the unlock
    in migrate's `finally` then meets a dead connection. Start-up must see the lost session, an outage,
    and try again, not the unlock's own error on that dead connection (the chaos suite's notifier exited
    when Postgres restarted during its migrations). A sequence counts the tries: it is not transactional,
    so the rolled-back first try still counts."""
    schema = unique("test_start_up")
    await db.ensure_schema(DATABASE_URL, schema)
    admin = await asyncpg.connect(DATABASE_URL)
    try:
        await admin.execute(f'CREATE SEQUENCE "{schema}".migration_tries')
    finally:
        await admin.close()
    (tmp_path / "0001_lost_once.sql").write_text(
        "SELECT CASE WHEN nextval('migration_tries') = 1 THEN pg_terminate_backend(pg_backend_pid()) END;\n"
        "CREATE TABLE made_on_the_second_try (id int);\n"
    )
    monkeypatch.setattr(db, "STARTUP_BACKOFF", db.Backoff(0.01))
    pool = await open_database(DATABASE_URL, schema, migrations=tmp_path)
    try:
        assert await pool.fetchval("SELECT last_value FROM migration_tries") == 2
        assert await pool.fetchval("SELECT to_regclass('made_on_the_second_try')") is not None
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM schema_migrations WHERE name = 'service/0001_lost_once.sql'"
            )
            == 1
        )
    finally:
        await pool.close()
        await drop_schema(schema)
