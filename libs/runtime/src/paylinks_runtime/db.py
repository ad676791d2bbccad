"""Postgres access: a pool bound to the service's own schema, and its migrations."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from .retry import Backoff, retry

log = structlog.get_logger(__name__)

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x7061796C  # advisory lock id: one migrator per database at a time

# What asyncpg raises when the server cannot be reached or just went away (restart, failover, overload):
# an outage to wait out, not a bug. OSError covers refused connections and connect timeouts.
_OUTAGE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)

# SQLSTATE classes that describe the server, never the statement or its data: connection exception (08),
# insufficient resources (53: disk full, out of memory, too many connections), operator intervention (57:
# admin shutdown, cannot connect now, statement cancelled by a timeout) and system error (58: I/O).
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58"})
# A read-only transaction is what a client meets on a standby during a failover, or on a primary an
# operator made read-only: the write succeeds once a writable primary is back.
_READ_ONLY_SQL_TRANSACTION = "25006"


def database_unavailable(exc: BaseException) -> bool:
    """True for an error that says the database is down, unreachable, read-only or out of resources,
    not that a statement or its data is wrong (then retrying the same work later cannot help)."""
    if isinstance(exc, asyncpg.InterfaceError):  # also raised for misuse; only "connection is closed" counts
        return "closed" in str(exc)
    if isinstance(exc, _OUTAGE_ERRORS):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and isinstance(sqlstate, str):
        return sqlstate == _READ_ONLY_SQL_TRANSACTION or sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
    return False


# Bounds on a session whose client froze or vanished, so its locks and its slot do not outlive it: the
# server probes an idle connection after 10 s and drops it after 3 unanswered probes 5 s apart, and ends a
# session that sits in an open transaction for 30 s (no unit of work here waits that long between two
# statements). No statement_timeout: migrations and read-model rebuilds legitimately run long statements.
SESSION_BOUNDS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "idle_in_transaction_session_timeout": "30s",
}


async def _keep_session(_: asyncpg.Connection) -> None:
    """A release without the reset query: asyncpg still rolls back an open transaction and drops listeners."""


class _SessionKeepingPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types
    """asyncpg's pool without its reset query (`_keep_session`), whose release skips asyncpg's task when
    there is nothing to wait for.

    asyncpg releases a connection in a task of its own (`asyncio.shield`), so that a caller cancelled
    meanwhile cannot leave the connection half released. Here a release waits for nothing when no
    transaction is open (nothing to roll back), no cancellation of a query is in flight, and the connection
    is neither closed nor due to be replaced (its query budget spent, or the pool's connections expired):
    asyncpg's own release then runs to its end without suspending, so no cancellation can reach it (one is
    only delivered where a coroutine suspends) and the task guards nothing. Measured: acquire, SELECT 1 and
    release 84 -> 65 us; link-service releases five connections a payment. Anything else goes asyncpg's way.
    The attributes read are asyncpg's private ones (pinned in uv.lock; libs/runtime/tests/test_pool_release.py
    checks both ways)."""

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        if not self._has_nothing_to_wait_for(connection):
            await super().release(connection, timeout=timeout)
            return
        holder = connection._holder
        connection._con._on_release()
        await holder.release(holder._timeout if timeout is None else timeout)

    def _has_nothing_to_wait_for(self, connection: Any) -> bool:
        if type(connection) is not PoolConnectionProxy or connection._holder._pool is not self:
            return False  # asyncpg's release says what is wrong
        con, holder = connection._con, connection._holder
        return bool(
            con is not None  # else released already
            and not con.is_closed()
            and not con._protocol._is_cancelling()
            and not con._protocol.is_in_transaction()
            and con._top_xact is None
            and con._protocol.queries_count < holder._max_queries
            and holder._generation == self._generation
        )


async def create_pool(
    database_url: str, schema: str, *, max_size: int = 10, reset_sessions: bool = True
) -> asyncpg.Pool:
    """A pool on `schema`. With `reset_sessions` False a released connection skips asyncpg's reset query
    (advisory unlock all, CLOSE ALL, UNLISTEN, RESET ALL: a round trip on every release), for code that leaves
    no session state behind: no session-level SET, LISTEN or advisory lock it does not undo itself."""
    await ensure_schema(database_url, schema)
    settings = {
        "min_size": 1,
        "max_size": max_size,
        "server_settings": {
            "search_path": schema,
            "application_name": f"paylinks-{schema}",
            **SESSION_BOUNDS,
        },
    }
    if reset_sessions:
        pool = await asyncpg.create_pool(database_url, **settings)
    else:  # asyncpg.create_pool's defaults, on the subclass
        pool = await _SessionKeepingPool(
            database_url,
            reset=_keep_session,
            max_queries=50_000,
            max_inactive_connection_lifetime=300.0,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            **settings,
        )
    assert pool is not None
    return pool


# Between tries of a start-up that finds the database unavailable (see open_database).
STARTUP_BACKOFF = Backoff(0.2, cap=5.0)


async def open_database(
    database_url: str,
    schema: str,
    *,
    max_size: int = 10,
    reset_sessions: bool = True,
    migrations: Path | None = None,
    runtime_tables: bool = True,
) -> asyncpg.Pool:
    """A process's pool, migrated (`create_pool`, then `migrate`). A database that is unavailable at that
    moment (down, restarting, read-only in a failover, out of connections) is waited for, trying again:
    a process started then used to fail its start-up and exit (uvicorn's exit code 3), as a fault's
    restart met in the chaos runs. Any other error fails at once."""

    async def attempt() -> asyncpg.Pool:
        pool = await create_pool(database_url, schema, max_size=max_size, reset_sessions=reset_sessions)
        try:
            await migrate(pool, migrations, runtime_tables=runtime_tables)
        except BaseException:
            pool.terminate()  # its server may be gone: no graceful close to wait for
            raise
        return pool

    def unavailable(exc: Exception, wait: float) -> None:
        log.warning("database unavailable at start-up; retrying", error=repr(exc), retry_in_seconds=wait)

    return await retry(attempt, backoff=STARTUP_BACKOFF, retry_if=database_unavailable, on_retry=unavailable)


async def postgres_reachable(pool: asyncpg.Pool) -> bool:
    try:
        async with asyncio.timeout(2.0), pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return True
    except Exception:
        return False


async def ensure_schema(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()


async def migrate(
    pool: asyncpg.Pool, service_migrations: Path | None = None, *, runtime_tables: bool = True
) -> list[str]:
    """Apply the runtime's migrations (event store, outbox, inbox: unless `runtime_tables` is False, for a
    process that has none of them), then the service's, each file once, in name order."""
    folders = [("runtime", RUNTIME_MIGRATIONS)] if runtime_tables else []
    if service_migrations is not None:
        folders.append(("service", service_migrations))
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for prefix, folder in folders:
                applied += await _apply_folder(conn, prefix, folder)
        finally:
            # A session lost meanwhile holds no lock any more, and unlocking on it would raise an
            # InterfaceError that hides why it was lost: start-up retries a lost connection, not that
            # (the chaos suite: a Postgres restart during a service's migrations made it exit).
            with contextlib.suppress(asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError):
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def _apply_folder(conn: asyncpg.Connection, prefix: str, folder: Path) -> list[str]:
    done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    applied = []
    for path in sorted(folder.glob("*.sql")):  # noqa: ASYNC240 - a few small files, once at start-up
        name = f"{prefix}/{path.name}"
        if name in done:
            continue
        async with conn.transaction():
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
        log.info("migration applied", migration=name)
        applied.append(name)
    return applied
