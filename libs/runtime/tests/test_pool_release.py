"""A service's pool releases a connection without asyncpg's reset query (a round trip on every release),
and is still safe: what a release leaves open is rolled back. Counted on the wire, not timed."""

from __future__ import annotations

import asyncio

from paylinks_runtime.db import create_pool
from paylinks_runtime.postgres_wire import counting_proxy
from paylinks_runtime.testing import DATABASE_URL, drop_schema, unique


async def test_a_release_costs_no_round_trip_and_still_rolls_back_an_open_transaction() -> None:
    schema = unique("test_pool")
    async with counting_proxy(DATABASE_URL) as proxy:
        pool = await create_pool(proxy.database_url, schema, max_size=1, reset_sessions=False)
        try:
            await pool.execute("CREATE TABLE kept (x int)")
            before = proxy.count.snapshot()
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            assert (proxy.count - before).round_trips == 1  # the query; its release sent nothing

            conn = await pool.acquire()
            await conn.transaction().start()
            await conn.execute("INSERT INTO kept VALUES (1)")
            # asyncpg reports the open transaction through the loop's exception handler as it rolls back
            loop = asyncio.get_running_loop()
            handler = loop.get_exception_handler()
            loop.set_exception_handler(lambda *_: None)
            try:
                await pool.release(conn)
            finally:
                loop.set_exception_handler(handler)
            async with pool.acquire() as again:
                assert not again.is_in_transaction()
                assert await again.fetchval("SELECT count(*) FROM kept") == 0
        finally:
            await pool.close()
            await drop_schema(schema)


async def test_the_default_pool_still_resets_sessions() -> None:
    schema = unique("test_pool")
    async with counting_proxy(DATABASE_URL) as proxy:
        pool = await create_pool(proxy.database_url, schema, max_size=1)
        try:
            async with pool.acquire() as conn:
                await conn.execute("SET application_name = 'changed'")
            async with pool.acquire() as conn:
                assert await conn.fetchval("SHOW application_name") == f"paylinks-{schema}"
            assert any(s.startswith("SELECT pg_advisory_unlock_all()") for s in proxy.count.statements)
        finally:
            await pool.close()
            await drop_schema(schema)
