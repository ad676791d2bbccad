"""What a figure gets to run with: the shared broker and database, sizes, and private schemas and topics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from paylinks_runtime.db import create_pool, migrate
from paylinks_runtime.kafka import ensure_topics, retriable_kafka_error
from paylinks_runtime.retry import Backoff, retry
from paylinks_runtime.settings import ServiceSettings

_DEFAULTS = ServiceSettings()
CLEANUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class BenchContext:
    quick: bool
    out_dir: Path
    database_url: str = os.environ.get("DATABASE_URL", _DEFAULTS.database_url)
    bootstrap_servers: str = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", _DEFAULTS.kafka_bootstrap_servers)

    def size(self, full: int, quick: int) -> int:
        """A workload size: `full` in a real run, `quick` in a smoke run (--quick)."""
        return quick if self.quick else full

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Print how long a part of a figure took (a run is long; the reader wants to see it move)."""
        began = time.perf_counter()
        yield
        print(f"   {name}: {time.perf_counter() - began:.0f} s", flush=True)

    @contextlib.asynccontextmanager
    async def schema(self, prefix: str = "bench") -> AsyncIterator[str]:
        """A fresh, empty Postgres schema, dropped afterwards."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        await self._execute(f'CREATE SCHEMA "{name}"')
        try:
            yield name
        finally:
            await self._execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    @contextlib.asynccontextmanager
    async def runtime_pool(
        self, prefix: str = "bench", *, max_size: int = 10, reset_sessions: bool = True
    ) -> AsyncIterator[asyncpg.Pool]:
        """A pool on a fresh schema holding the runtime's tables (events, outbox, inbox), as a service has.
        `reset_sessions=False`: released connections skip asyncpg's reset query, as ServiceRuntime's pool."""
        async with self.schema(prefix) as name:
            pool = await create_pool(
                self.database_url, name, max_size=max_size, reset_sessions=reset_sessions
            )
            try:
                await migrate(pool)
                yield pool
            finally:
                await pool.close()

    @contextlib.asynccontextmanager
    async def topics(self, count: int = 1, *, partitions: int = 6) -> AsyncIterator[list[str]]:
        """Private topics `bench.<uuid>` (never the contract topics), deleted afterwards."""
        names = [f"bench.{uuid.uuid4().hex[:12]}" for _ in range(count)]
        await ensure_topics(self.bootstrap_servers, names, partitions=partitions)
        try:
            yield names
        finally:
            await self._delete_topics(names)

    async def groups_ready(self) -> None:
        """Wait until the broker's group coordinator answers. A new broker (`make bench` empties its own
        before each run) creates its offsets topic at the first group's request; without this the first
        figure's consumers would wait for it inside their timing, logging GroupCoordinatorNotAvailable."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="paylinks-bench")
        await admin.start()
        try:
            await retry(
                lambda: admin.find_coordinator("paylinks-bench"),
                backoff=Backoff(0.2, cap=2.0),
                attempts=60,
                retry_if=retriable_kafka_error,
            )
        finally:
            await admin.close()

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(sql, timeout=CLEANUP_TIMEOUT)
        finally:
            await conn.close()

    async def _delete_topics(self, names: list[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="paylinks-bench")
        await admin.start()
        try:
            await asyncio.wait_for(admin.delete_topics(names), CLEANUP_TIMEOUT)
        finally:
            await admin.close()
