"""A service's pool releases a connection without asyncpg's reset query (a round trip on every release),
and is still safe: what a release leaves open is rolled back. Counted on the wire, not timed. A release with
nothing to wait for ends without suspending; any other goes asyncpg's way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

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


@pytest.fixture
async def kept_pool() -> AsyncIterator[asyncpg.Pool]:
    schema = unique("test_pool")
    pool = await create_pool(DATABASE_URL, schema, max_size=1, reset_sessions=False)
    try:
        yield pool
    finally:
        await pool.close()
        await drop_schema(schema)


async def test_a_release_with_nothing_to_wait_for_ends_without_suspending(kept_pool: asyncpg.Pool) -> None:
    conn = await kept_pool.acquire()
    pid = conn.get_server_pid()
    await conn.fetchval("SELECT 1")
    release = kept_pool.release(conn)
    with pytest.raises(StopIteration):  # done in its first step: no task, nothing a cancellation could cut
        release.send(None)
    assert kept_pool.get_idle_size() == 1
    async with kept_pool.acquire() as again:
        assert again.get_server_pid() == pid  # the same connection, back in the pool
    await kept_pool.release(conn)  # a second release of the same proxy does nothing, as in asyncpg


async def test_a_release_that_rolls_back_survives_its_caller_being_cancelled(kept_pool: asyncpg.Pool) -> None:
    """A release with an open transaction waits for its ROLLBACK: asyncpg's way, which a cancellation of
    the caller does not cut short (cut, the connection would be terminated instead of returned)."""
    conn = await kept_pool.acquire()
    pid = conn.get_server_pid()
    await conn.transaction().start()
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda *_: None)  # asyncpg reports the open transaction as it rolls back
    try:
        releasing = asyncio.create_task(kept_pool.release(conn))
        await asyncio.sleep(0)  # the release has sent its ROLLBACK and waits for the answer
        releasing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await releasing
        async with kept_pool.acquire() as again:
            assert again.get_server_pid() == pid
            assert not again.is_in_transaction()
    finally:
        loop.set_exception_handler(handler)


async def test_a_connection_due_for_replacement_is_still_closed_on_release(kept_pool: asyncpg.Pool) -> None:
    conn = await kept_pool.acquire()
    pid = conn.get_server_pid()
    await kept_pool.expire_connections()
    await kept_pool.release(conn)
    async with kept_pool.acquire() as again:
        assert again.get_server_pid() != pid


async def test_a_connection_of_another_pool_is_refused_as_asyncpg_refuses_it(kept_pool: asyncpg.Pool) -> None:
    schema = unique("test_pool")
    other = await create_pool(DATABASE_URL, schema, max_size=1, reset_sessions=False)
    try:
        conn = await other.acquire()
        with pytest.raises(asyncpg.InterfaceError, match="is not a member of this pool"):
            await kept_pool.release(conn)
        await other.release(conn)
    finally:
        await other.close()
        await drop_schema(schema)
