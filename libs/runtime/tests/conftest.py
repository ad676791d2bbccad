from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from paylinks_runtime.db import create_pool, migrate
from paylinks_runtime.kafka import ensure_topics
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, drop_schema, unique


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    schema = unique("test_runtime")
    pool = await create_pool(DATABASE_URL, schema)
    await migrate(pool)
    yield pool
    await pool.close()
    await drop_schema(schema)


@pytest.fixture
async def topic() -> str:
    """A private topic (with its DLQ) for one test: records sent there reach no other consumer."""
    name = unique("test.runtime").replace("_", "-")
    await ensure_topics(BOOTSTRAP, [name, f"{name}.dlq"], partitions=3)
    return name
