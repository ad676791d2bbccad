"""A database outage is a 503 with Retry-After, on the real driver and server; a bug stays a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from paylinks_devstack.stack import free_port
from paylinks_runtime.db import database_unavailable
from paylinks_runtime.errors import RefusalStatuses, install_error_handlers
from paylinks_runtime.testing import DATABASE_URL


def _app(pool: asyncpg.Pool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, RefusalStatuses())

    @app.get("/query")
    async def query(sql: str) -> dict[str, object]:
        async with pool.acquire() as conn:
            return {"value": await conn.fetchval(sql)}

    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def real_pool() -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=1)
    yield pool
    await pool.close()


async def test_a_server_that_cannot_be_reached_is_503_with_retry_after() -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/paylinks"
    pool = asyncpg.create_pool(nowhere, min_size=0, max_size=1)
    await pool  # min_size=0: no connection yet; the first acquire finds nobody listening
    try:
        async with await _client(_app(pool)) as http:
            response = await http.get("/query", params={"sql": "SELECT 1"})
    finally:
        await pool.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "unavailable"


async def test_a_connection_the_server_ended_is_503(real_pool: asyncpg.Pool) -> None:
    async with await _client(_app(real_pool)) as http:
        response = await http.get("/query", params={"sql": "SELECT pg_terminate_backend(pg_backend_pid())"})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"


async def test_a_wrong_statement_is_still_a_500_without_details(real_pool: asyncpg.Pool) -> None:
    async with await _client(_app(real_pool)) as http:
        response = await http.get("/query", params={"sql": "SELECT * FROM no_such_table"})
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "message": "internal error"}}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (ValueError("bug"), False),
    ],
)
def test_which_errors_are_an_outage(error: Exception, outage: bool) -> None:
    assert database_unavailable(error) is outage
