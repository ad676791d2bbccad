"""A row Kafka will never accept (too large, a topic name it refuses) is quarantined with its error and
counted; the rows behind it, on every topic and of the same key, are published in order."""

from __future__ import annotations

import json
import uuid

import asyncpg
from prometheus_client import REGISTRY

from paylinks_events import MatterOpened, Topic
from paylinks_runtime import event_store
from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.testing import TopicWatcher, header
from paylinks_runtime.unit_of_work import OutboxSignal, UnitOfWork


async def open_matter(pool: asyncpg.Pool, firm: str, matter: str, version: int) -> str:
    async with UnitOfWork(pool, "/t") as uow:
        envelope = uow.envelope(
            MatterOpened(firm_id=firm, matter_id=matter, contact_id="c", name=str(version))
        )
        await event_store.append(uow.conn, matter, "matter", version - 1, [envelope])
    return envelope.id


async def copy_last_row(pool: asyncpg.Pool, *, topic: str | None = None, size: int | None = None) -> str:
    """A row like the newest one of the outbox, with its own event id, on another topic or of `size` bytes."""
    row = await pool.fetchrow("SELECT topic, key, headers, value FROM outbox ORDER BY id DESC LIMIT 1")
    event_id = str(uuid.uuid4())
    headers = [[k, event_id if k == "ce_id" else v] for k, v in json.loads(row["headers"])]
    await pool.execute(
        "INSERT INTO outbox (event_id, topic, key, headers, value) VALUES ($1, $2, $3, $4, $5)",
        event_id,
        topic or row["topic"],
        row["key"],
        json.dumps(headers),
        b"x" * size if size else row["value"],
    )
    return event_id


def quarantined_total(service: str) -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "paylinks_outbox_quarantined"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["service"] == service
    )


async def test_rows_kafka_never_accepts_are_quarantined_and_the_rest_published_in_order(
    pool: asyncpg.Pool,
    producer,  # type: ignore[no-untyped-def]
) -> None:
    firm, matter = f"firm-{uuid.uuid4()}", str(uuid.uuid4())
    service = f"quarantine-{uuid.uuid4().hex[:6]}"
    first = await open_matter(pool, firm, matter, 1)
    too_large = await copy_last_row(pool, size=2 * 1024 * 1024)  # over the producer's and broker's limit
    second = await open_matter(pool, firm, matter, 2)
    bad_topic = await copy_last_row(pool, topic="no such topic!")
    third = await open_matter(pool, firm, matter, 3)
    relay = OutboxRelay(pool, producer, service=service, signal=OutboxSignal(), batch_size=2)

    async with TopicWatcher(Topic.PRACTICE) as watcher:
        for _ in range(10):  # five rows, two a batch: three batches, each either published or quarantined
            if not await relay.publish_batch():
                break
        records = await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm, count=3)

    assert [header(r, "ce_id") for r in records] == [first, second, third]  # the key's order kept
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    quarantined = {r["event_id"]: r["error"] for r in await pool.fetch("SELECT * FROM outbox_quarantine")}
    assert set(quarantined) == {too_large, bad_topic}
    assert "MessageSizeTooLarge" in quarantined[too_large]
    assert "InvalidTopic" in quarantined[bad_topic]
    assert quarantined_total(service) == 2
