"""The webhook claim: which webhook goes next (as a receiver sees it, through the workers' `deliver_next`),
that a webhook being delivered is not claimed again, and that finding the next stays cheap behind a backlog
even when the table's statistics say nothing is open (the state a long-running sandbox's last ANALYZE
leaves)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from paylinks_runtime.db import open_database
from paylinks_runtime.testing import drop_schema, eventually
from processor_sandbox.config import Settings
from processor_sandbox.runtime import MIGRATIONS
from processor_sandbox.testing import WebhookRecorder, sandbox_settings
from processor_sandbox.webhook_delivery import NEXT_DUE, WebhookDelivery

BACKLOG = 2_000


@pytest.fixture
async def recorder() -> AsyncIterator[WebhookRecorder]:
    async with WebhookRecorder.serving() as recorder:
        yield recorder


@pytest.fixture
def settings(recorder: WebhookRecorder) -> Settings:
    return sandbox_settings(recorder.url)  # its own schema


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_database(
        settings.database_url, settings.db_schema, migrations=MIGRATIONS, runtime_tables=False
    )
    try:
        yield pool
    finally:
        await pool.close()
        await drop_schema(settings.db_schema)


@pytest.fixture
async def delivery(pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[WebhookDelivery]:
    """What each worker runs: claim the next due webhook, deliver it, record the answer."""
    async with httpx.AsyncClient() as client:
        yield WebhookDelivery(pool, client, settings)


async def add(conn: asyncpg.Connection, key: str, *, attempts: int = 0, due: bool = True) -> str:
    """A webhook queued for `key`; not `due`, it waits an hour (a lease, or a retry's wait). Its id."""
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": "payment.succeeded", "created": 0, "data": {}})
    await conn.execute(
        "INSERT INTO webhooks (id, ordering_key, type, body, attempts, next_attempt_at)"
        " VALUES ($1, $2, 'payment.succeeded', $3, $4, now() + make_interval(hours => $5))",
        event_id,
        key,
        body,
        attempts,
        0 if due else 1,
    )
    return event_id


def delivered(recorder: WebhookRecorder) -> list[str]:
    return [d.event["id"] for d in recorder.deliveries]


async def test_a_webhook_waits_for_its_key_s_first_delivery_but_not_for_its_retries(
    delivery: WebhookDelivery, pool: asyncpg.Pool, recorder: WebhookRecorder
) -> None:
    async with pool.acquire() as conn:
        await add(conn, "pay_a", due=False)  # claimed by a worker: its first attempt is under way
        await add(conn, "pay_a")  # the oldest due webhook: an oldest-first claim would take it
        await add(conn, "pay_b", attempts=2, due=False)  # attempted, failed, waiting for its retry
        free = await add(conn, "pay_b")
        after = await add(conn, "pay_c")
    while await delivery.deliver_next():
        pass
    assert delivered(recorder) == [free, after]


async def test_a_webhook_being_delivered_is_not_claimed_by_another_worker(
    delivery: WebhookDelivery, pool: asyncpg.Pool, recorder: WebhookRecorder
) -> None:
    async with pool.acquire() as conn:
        first = await add(conn, "pay_a")
        second = await add(conn, "pay_b")
    recorder.delay = lambda event: 1.0 if event["id"] == first else 0.0  # a slow answer to the first
    slow = asyncio.create_task(delivery.deliver_next())
    await eventually(lambda: recorder.in_flight == 1)
    assert await delivery.deliver_next()  # another worker, while the first is being delivered
    assert await slow
    assert not await delivery.deliver_next()
    assert sorted(delivered(recorder)) == sorted([first, second])  # each once, whichever answer came first


def plan_nodes(plan: Any) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += plan_nodes(child)
    return nodes


def rows_read(nodes: list[dict[str, Any]]) -> int:
    """Rows the plan's nodes produced or threw away, every loop counted."""
    removed = ("Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck")
    return sum(
        node["Actual Rows"] * node["Actual Loops"] + sum(node.get(key, 0) for key in removed)
        for node in nodes
        if "Relation Name" in node
    )


async def test_the_claim_walks_the_open_webhooks_in_order_whatever_the_statistics_say(
    pool: asyncpg.Pool,
) -> None:
    """Statistics taken when every webhook had been delivered, then a backlog: the claim still starts at the
    oldest open webhook and stops at the first free one (no sort of the backlog, no pairing of it with
    itself, which took 0.3-0.8 s a claim at 2,000 open)."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO webhooks (id, ordering_key, type, body, delivered_at)"
            " SELECT 'old_' || g, 'old_' || g, 'payment.succeeded', '{}', now()"
            " FROM generate_series(1, $1) g",
            10 * BACKLOG,
        )
        await conn.execute("ANALYZE webhooks")
        await conn.execute(
            "INSERT INTO webhooks (id, ordering_key, type, body)"
            " SELECT 'new_' || g, 'pay_' || (g % ($1 / 2)), 'payment.succeeded', '{}'"
            " FROM generate_series(1, $1) g",
            BACKLOG,
        )
        async with conn.transaction():
            [explained] = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {NEXT_DUE}"))
    nodes = plan_nodes(explained["Plan"])
    outer = next(node for node in nodes if node.get("Relation Name") == "webhooks")
    assert outer["Index Name"] == "webhooks_open"
    assert not [node["Node Type"] for node in nodes if node["Node Type"] == "Sort" or "Join Type" in node]
    assert rows_read(nodes) <= 4  # the oldest open webhook, and its key's first: it was free
