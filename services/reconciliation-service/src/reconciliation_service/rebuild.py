"""`reconciliation-rebuild`: rebuild the read model by replaying its topics from the beginning.

1. prepare: create the read-model tables, empty, in a staging schema `<schema>_rebuild`, without their keys
   and indexes;
2. replay, as a bulk load (bulk.py; the API keeps serving the live tables): read every event of the
   projection's topics up to their end offsets of that moment into unindexed raw tables (COPY; the
   partitions shared with a helper process, replayer.py), build every
   read-model table from them set-based (payments in parts side by side), then its keys and indexes over the
   whole of it; then apply through the per-event projection what the bulk load left to it and what arrived
   meanwhile.
   Should the bulk load fail, the staging tables are made anew and every event is replayed through the
   per-event projection instead (with the keys, the secondary indexes built at the end);
3. switch: take the read-model lock exclusively (live writers wait; readers go on), let this service's
   outbox drain, replay what arrived meanwhile, then in the same transaction drop the live tables and move
   the staging ones into the service schema. Events the live consumer sees again afterwards are applied
   again harmlessly. The payment-link event store (`events`, `outbox`, `inbox`) is never touched.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from paylinks_runtime.db import create_pool, migrate
from paylinks_runtime.logs import setup_logging

from . import bulk, projection_store
from .bulk import qualified, quote
from .config import MIGRATIONS, Settings
from .projection import PROJECTION_TOPICS
from .replayer import Replayer, StagingTables

log = structlog.get_logger(__name__)

_REBUILD_LOCK = 0x72626C64  # one rebuild per schema at a time


@dataclass(frozen=True)
class RebuildReport:
    events_applied: int
    tables: list[str]
    seconds: float


class Rebuild:
    def __init__(self, settings: Settings, topics: Sequence[str] = PROJECTION_TOPICS) -> None:
        self.settings = settings
        self.topics = tuple(topics)  # the contract's; a benchmark replays private topics
        self.schema = settings.db_schema
        self.staging = f"{settings.db_schema}_rebuild"
        self._pool: asyncpg.Pool
        self._staging_pool: asyncpg.Pool
        self._replayer: Replayer
        self._guard: asyncpg.Connection
        self._deferred: dict[str, bulk.Restore] = {}

    @property
    def events_applied(self) -> int:
        return self._replayer.applied

    async def prepare(self) -> None:
        s = self.settings
        self._pool = await create_pool(s.database_url, self.schema)
        await migrate(self._pool, MIGRATIONS)
        self._guard = await self._pool.acquire()
        if not await self._guard.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", _REBUILD_LOCK, self.schema
        ):
            raise RuntimeError(f"another rebuild of {self.schema} is running")
        await self._create_staging_tables()
        self._deferred = await self._set_aside_for_the_load()
        self._staging_pool = await create_pool(s.database_url, self.staging)
        self._replayer = Replayer(s.kafka_bootstrap_servers, self.topics, self._staging_pool)
        await self._replayer.start()

    async def replay(self) -> None:
        try:
            await self._bulk_replay()
        except (asyncpg.PostgresError, asyncpg.DataError):
            log.exception("the rebuild's bulk load failed; replaying every event through the projection")
            await self._replay_per_event()

    async def _bulk_replay(self) -> None:
        began = time.monotonic()
        async with self._staging_pool.acquire() as conn:
            await bulk.create_raw_tables(conn)
        loading = await self._replayer.load(StagingTables(self.settings.database_url, self.staging))
        loaded = time.monotonic()
        log.info(
            "rebuild loaded the topics",
            events=loading.events,
            per_event=len(loading.per_event),
            seconds=round(loaded - began, 3),
        )
        await bulk.build(self._staging_pool, self._deferred)
        async with self._staging_pool.acquire() as conn:
            await bulk.drop_raw_tables(conn)
        built = time.monotonic()
        log.info("rebuild built and indexed the read model", seconds=round(built - loaded, 3))
        await self._replayer.apply(loading.per_event)
        await self._replayer.catch_up()  # what arrived during the bulk load
        log.info(
            "rebuild replayed the topics",
            events=self._replayer.applied,
            seconds=round(time.monotonic() - built, 3),
        )

    async def _replay_per_event(self) -> None:
        """The staging tables anew, with their keys, and every event through the per-event projection."""
        await self._staging_pool.close()
        await self._create_staging_tables()
        deferred_indexes = await self._drop_secondary_indexes()
        self._staging_pool = await create_pool(self.settings.database_url, self.staging)
        self._replayer.use_pool(self._staging_pool)
        self._replayer.applied = 0
        await self._replayer.rewind()
        await self._replayer.catch_up()
        log.info("rebuild replayed the topics", events=self._replayer.applied)
        async with self._pool.acquire() as conn:
            for definition in deferred_indexes:
                await conn.execute(definition)
        log.info("rebuild indexed the read model", indexes=len(deferred_indexes))

    async def switch(self) -> list[str]:
        async with self._pool.acquire() as conn, conn.transaction():
            await projection_store.hold_read_model_exclusive(conn)
            await self._wait_for_outbox(conn)
            await self._replayer.catch_up()
            tables = await self._staging_tables(conn)
            for table in tables:
                await conn.execute(f"DROP TABLE IF EXISTS {qualified(self.schema, table)}")
                await conn.execute(
                    f"ALTER TABLE {qualified(self.staging, table)} SET SCHEMA {quote(self.schema)}"
                )
        log.info("rebuild switched the read model", tables=tables, events=self._replayer.applied)
        return tables

    async def close(self) -> None:
        await self._replayer.stop()
        await self._staging_pool.close()
        await self._pool.execute(f"DROP SCHEMA IF EXISTS {quote(self.staging)} CASCADE")
        await self._pool.release(self._guard)  # the session lock goes with the connection's reset
        await self._pool.close()

    async def _create_staging_tables(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"DROP SCHEMA IF EXISTS {quote(self.staging)} CASCADE")
            await conn.execute(f"CREATE SCHEMA {quote(self.staging)}")
            await conn.execute(f"SET LOCAL search_path TO {quote(self.staging)}")
            for path in sorted(MIGRATIONS.glob("*_read_model*.sql")):
                await conn.execute(path.read_text())

    async def _set_aside_for_the_load(self) -> dict[str, bulk.Restore]:
        async with self._pool.acquire() as conn, conn.transaction():
            return await bulk.set_aside_for_the_load(conn, self.staging)

    async def _drop_secondary_indexes(self) -> list[str]:
        """Drop the staging tables' indexes that back no constraint; return how to create them again."""
        async with self._pool.acquire() as conn, conn.transaction():
            indexes = await bulk.secondary_indexes(conn, self.staging)
            for _, drop, _ in indexes:
                await conn.execute(drop)
        return [create for _, _, create in indexes]

    async def _staging_tables(self, conn: asyncpg.Connection) -> list[str]:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", self.staging
        )
        return [r["tablename"] for r in rows]

    async def _wait_for_outbox(self, conn: asyncpg.Connection) -> None:
        """Our own link events still in the outbox are not on the topic yet: let the relay send them."""
        deadline = time.monotonic() + self.settings.rebuild_outbox_drain_seconds
        while await conn.fetchval("SELECT count(*) FROM outbox"):
            if time.monotonic() > deadline:
                log.warning(
                    "outbox did not drain; the live consumer will apply those events after the switch"
                )
                return
            await asyncio.sleep(0.05)


async def rebuild(settings: Settings, topics: Sequence[str] = PROJECTION_TOPICS) -> RebuildReport:
    started = time.monotonic()
    job = Rebuild(settings, topics)
    await job.prepare()
    try:
        await job.replay()
        tables = await job.switch()
    finally:
        await job.close()
    return RebuildReport(job.events_applied, tables, round(time.monotonic() - started, 3))


def main() -> None:
    settings = Settings()
    setup_logging("reconciliation-rebuild", settings.log_level)
    report = asyncio.run(rebuild(settings))
    print(json.dumps(report.__dict__))
