"""Helpers for integration tests against the real broker and database (no fakes here).

Each test area gets its own Postgres schema and its own consumer groups, so tests share one broker and
one database without seeing each other's state; topics are shared, firms keep the data apart.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from .auth import issue_token
from .http import server_config
from .kafka import contract_topics, ensure_topics
from .settings import ServiceSettings

if TYPE_CHECKING:
    from .inbox_consumer import InboxConsumer

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ServiceSettings().kafka_bootstrap_servers)
DATABASE_URL = os.environ.get("DATABASE_URL", ServiceSettings().database_url)
JWT_SECRET = ServiceSettings().auth_jwt_secret
GRANT_KEYS = ServiceSettings().grant_keys()
# Test cards expire a few years from today, never on a fixed year that one day is past.
CARD_EXPIRY_YEAR = date.today().year + 3
CARD_EXPIRY = f"12/{CARD_EXPIRY_YEAR % 100:02d}"  # as the pay form takes it: MM/YY


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def staff_token(
    firm_id: str,
    *,
    roles: tuple[str, ...] = ("staff",),
    user_id: str = "user-1",
    secret: str = JWT_SECRET,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    return issue_token(secret, user_id=user_id, firm_id=firm_id, roles=list(roles), ttl=ttl)


def auth_header(firm_id: str, **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token(firm_id, **kwargs)}"}  # type: ignore[arg-type]


@asynccontextmanager
async def running_app(app: FastAPI, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (pool, relay, consumers on the real broker) and talk to it in process."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def start_at_the_end(group: str, topics: Sequence[str]) -> None:
    """Commit the end of `topics` as consumer group `group`'s offsets: a test app whose groups start there
    consumes what its tests publish, not the shared topics' whole history (every earlier run's events)."""
    await ensure_topics(BOOTSTRAP, contract_topics())
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # as TopicWatcher does: topics may be brand new
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


class TopicWatcher:
    """Reads a topic from the offsets it had when the watcher started: what a test caused, nothing older."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
        self.records: list[ConsumerRecord] = []

    async def __aenter__(self) -> TopicWatcher:
        await self._consumer.start()
        partitions = await self._partitions()
        self._consumer.assign(partitions)
        self._start = await self._consumer.end_offsets(partitions)
        for tp, offset in self._start.items():
            self._consumer.seek(tp, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def _partitions(self) -> list[TopicPartition]:
        for _ in range(50):
            ids = self._consumer.partitions_for_topic(self.topic)
            if ids:
                return [TopicPartition(self.topic, p) for p in sorted(ids)]
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {self.topic} has no partitions")

    async def arrived(self) -> int:
        """How many records reached the topic since the watcher started, read from the broker's end offsets
        (no waiting: a record acknowledged to its producer is counted)."""
        ends = await self._consumer.end_offsets(list(self._start))
        return sum(ends[tp] - start for tp, start in self._start.items())

    async def wait_for(
        self, predicate: Callable[[ConsumerRecord], bool], count: int = 1, timeout: float = 20.0
    ) -> list[ConsumerRecord]:
        """Wait until `count` records match; return the matching ones in arrival order."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            matched = [r for r in self.records if predicate(r)]
            if len(matched) >= count:
                return matched
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(
                    f"{len(matched)}/{count} matching records on {self.topic} after {timeout}s"
                )
            batch = await self._consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for records in batch.values():
                self.records.extend(records)


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


async def consumed_everything(consumer: InboxConsumer) -> bool:
    """Whether the consumer has committed offsets at the end of every partition it reads: all that was sent
    is applied (an inbox consumer commits only after its transaction). The positive signal a test waits
    for before asserting that something did not happen."""
    kafka = consumer._consumer
    partitions = list(kafka.assignment()) if kafka is not None else []
    if kafka is None or not partitions:
        return False
    ends = await kafka.end_offsets(partitions)
    for tp, end in ends.items():
        committed = await kafka.committed(tp)  # None: nothing committed, as on a partition never written
        if (committed or 0) < end:
            return False
    return True


async def eventually(probe: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll an async probe until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


# --- a real port and a real browser ------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless as root, and quiet: this machine has no network beyond loopback for the browser to reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_socket() -> socket.socket:
    """A listening address on loopback, bound now so that nothing else takes the port before the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serving(
    app: FastAPI,
    sock: socket.socket,
    *,
    lifespan: Literal["on", "off"] = "on",
    settings: ServiceSettings | None = None,
) -> AsyncIterator[str]:
    """Serve the app with uvicorn on `sock` (for webhooks and browsers), configured as `serve` does for
    `settings` (the defaults without); yields its base URL.

    `lifespan="off"` when the app's lifespan already runs (e.g. under `running_app`)."""
    server = uvicorn.Server(server_config(app, settings or ServiceSettings(), lifespan=lifespan))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), timeout=60)
        assert not task.done(), "the server did not start"
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


async def serious_accessibility_violations(page: Any, axe_core: Path) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (injected once per document; the
    page's context needs `bypass_csp=True`, axe being an inline script). `axe_core`: the root conftest's
    fixture of that name (where `make setup` installed it)."""
    if not await page.evaluate("() => typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(axe_core))
    violations = await page.evaluate(
        "async () => (await axe.run()).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)}))"
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright (no browser download); skips the test if it cannot start."""
    import pytest
    from playwright.async_api import Error, async_playwright

    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            if os.environ.get("CI"):  # make test installs Chromium: in CI a browser test never skips quietly
                raise
            pytest.skip(f"chromium cannot be started at {CHROMIUM}: {exc}")
        try:
            yield browser
        finally:
            await browser.close()
