"""Outbox relay on the real broker: records exactly as appended, and nothing lost across a SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from paylinks_events import Envelope, MatterOpened, Topic
from paylinks_runtime import event_store
from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.relay_lease import LeaseLost, RelayLease
from paylinks_runtime.testing import TopicWatcher, header
from paylinks_runtime.tracing import current_trace_headers, tracer
from paylinks_runtime.unit_of_work import OutboxSignal

CE_HEADERS = {
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_firmid",
    "content-type",
    "traceparent",
}

# A killed relay's successor waits out its lease: a short one (production's is 10 s).
LEASE_SECONDS = 3.0


async def append_matters(
    pool: asyncpg.Pool, firm: str, aggregates: int, per_aggregate: int
) -> list[Envelope]:
    """Append `per_aggregate` events to each of `aggregates` streams, interleaved across transactions."""
    envelopes: list[Envelope] = []
    ids = [str(uuid.uuid4()) for _ in range(aggregates)]
    trace = current_trace_headers()
    for version in range(1, per_aggregate + 1):
        batch = [
            Envelope(
                MatterOpened(firm_id=firm, matter_id=m, contact_id="c", name=str(version)),
                source="/t",
                traceparent=trace.get("traceparent"),
            )
            for m in ids
        ]
        async with pool.acquire() as conn, conn.transaction():
            for envelope in batch:
                await event_store.append(conn, envelope.subject, "matter", version - 1, [envelope])
        envelopes += batch
    return envelopes


async def test_appended_events_arrive_exactly_as_appended(pool: asyncpg.Pool, producer, spans) -> None:  # type: ignore[no-untyped-def]
    firm = f"firm-{uuid.uuid4()}"
    with tracer().start_as_current_span("append operation"):
        operation_trace = current_trace_headers()["traceparent"].split("-")[1]
        appended = await append_matters(pool, firm, aggregates=5, per_aggregate=4)
    signal_ = OutboxSignal()
    relay = OutboxRelay(pool, producer, service="test", signal=signal_, batch_size=7)

    async with TopicWatcher(Topic.PRACTICE) as watcher:
        while await relay.publish_batch():
            pass
        records = await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm, count=len(appended))

    assert len(records) == len(appended)
    by_id = {e.id: e for e in appended}
    for record in records:
        envelope = by_id[header(record, "ce_id")]  # type: ignore[index]
        names = {k for k, _ in record.headers}
        assert names >= CE_HEADERS
        assert record.key == envelope.subject.encode()
        assert header(record, "ce_type") == "MatterOpened"
        assert header(record, "ce_subject") == envelope.subject
        assert header(record, "ce_source") == "/t"
        assert header(record, "traceparent").split("-")[1] == operation_trace  # type: ignore[union-attr]
        assert record.value == event_store.encode_data(envelope.event)
    for matter_id in {e.subject for e in appended}:
        versions = [r.value for r in records if r.key == matter_id.encode()]
        assert [b'"name":"%d"' % v in value for v, value in enumerate(versions, 1)] == [True] * 4
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    publish_spans = [s for s in spans.get_finished_spans() if s.name == "send practice.events"]
    assert {format(s.context.trace_id, "032x") for s in publish_spans} == {operation_trace}


async def test_relay_killed_mid_batch_resumes_and_loses_nothing(pool: asyncpg.Pool) -> None:
    firm = f"firm-{uuid.uuid4()}"
    appended = await append_matters(pool, firm, aggregates=200, per_aggregate=25)  # 5,000 events
    schema = await pool.fetchval("SELECT current_schema()")

    async with TopicWatcher(Topic.PRACTICE) as watcher:
        first = await start_relay(schema)
        await wait_until_outbox_below(pool, len(appended) - 500)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        left = await pool.fetchval("SELECT count(*) FROM outbox")
        assert 0 < left < len(appended), "the relay must be killed in the middle of its work"

        second = await start_relay(schema)
        try:
            await wait_until_outbox_below(pool, 1)
            records = await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm, count=len(appended))
        finally:
            second.send_signal(signal.SIGKILL)
            await second.wait()

    assert {header(r, "ce_id") for r in records} == {e.id for e in appended}


def relay_command(schema: str) -> list[str]:
    """A relay of batches of 50 on the schema, in a process of its own (relay_process.py)."""
    script = Path(__file__).with_name("relay_process.py")
    return [sys.executable, str(script), schema, "50", str(LEASE_SECONDS)]


async def start_relay(schema: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *relay_command(schema), stdout=asyncio.subprocess.PIPE, env=os.environ.copy()
    )
    assert process.stdout is not None
    await asyncio.wait_for(process.stdout.readline(), 30)
    return process


async def wait_until_outbox_below(pool: asyncpg.Pool, limit: int, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while await pool.fetchval("SELECT count(*) FROM outbox") >= limit:
            await asyncio.sleep(0.005)


async def test_leader_publishes_rows_committed_while_batches_are_in_flight_once_each_in_key_order(
    pool: asyncpg.Pool, producer
) -> None:  # type: ignore[no-untyped-def]
    """The leader deletes a batch while the next one is in flight: rows acknowledged but not deleted yet
    must not be read (and sent) again, and every key's events still arrive in version order."""
    firm = f"firm-{uuid.uuid4()}"
    signal_ = OutboxSignal()
    relay = OutboxRelay(pool, producer, service="test", signal=signal_, batch_size=7, idle_poll_seconds=0.05)
    async with TopicWatcher(Topic.PRACTICE) as watcher:
        running = asyncio.create_task(relay.run())
        try:
            appended: list[Envelope] = []
            for _ in range(6):  # commits keep arriving while the relay works through its batches
                appended += await append_matters(pool, firm, aggregates=10, per_aggregate=5)
                signal_.notify()
                await asyncio.sleep(0.01)
            await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm, count=len(appended))
            await wait_until_outbox_below(pool, 1, timeout=20)
            await _read_on(watcher, seconds=1.0)  # a record sent twice would arrive by now
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    records = [r for r in watcher.records if header(r, "ce_firmid") == firm]

    ids = [header(r, "ce_id") for r in records]
    assert sorted(ids) == sorted(e.id for e in appended)  # type: ignore[type-var]  # each exactly once
    position = {e.id: i for i, e in enumerate(appended)}  # append order: versions ascending per key
    by_key: dict[bytes, list[int]] = {}
    for r in records:
        by_key.setdefault(r.key, []).append(position[header(r, "ce_id")])  # type: ignore[index]
    assert all(seen == sorted(seen) for seen in by_key.values())


async def _read_on(watcher: TopicWatcher, seconds: float) -> None:
    """Keep reading the topic into `watcher.records` for `seconds`."""
    with contextlib.suppress(AssertionError):
        await watcher.wait_for(lambda _: False, timeout=seconds)


async def test_a_relay_stopped_while_leader_deletes_what_it_had_published(
    pool: asyncpg.Pool, producer
) -> None:  # type: ignore[no-untyped-def]
    """Its last batch's rows wait for the next cycle to be deleted; stopping must not leave them to be sent
    again by the next leader."""
    firm = f"firm-{uuid.uuid4()}"
    appended = await append_matters(pool, firm, aggregates=3, per_aggregate=1)
    relay = OutboxRelay(pool, producer, service="test", signal=OutboxSignal(), idle_poll_seconds=60)
    async with TopicWatcher(Topic.PRACTICE) as watcher:
        running = asyncio.create_task(relay.run())
        try:
            await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm, count=len(appended))
            await asyncio.sleep(0.2)  # acknowledged: the relay now waits (up to 60 s) for more work
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def outbox_ids(pool: asyncpg.Pool) -> list[int]:
    return [r["id"] for r in await pool.fetch("SELECT id FROM outbox ORDER BY id")]


async def test_a_leaders_read_deletes_its_last_batch_and_stops_once_another_relay_took_the_lease(
    pool: asyncpg.Pool,
) -> None:
    """One statement deletes the batch acknowledged and reads the next: the rows deleted are not read
    again, nothing waiting still deletes, and a deletion that misses rows (another relay leads now and
    has published them) raises LeaseLost, deleting and reading nothing."""
    await append_matters(pool, f"firm-{uuid.uuid4()}", aggregates=5, per_aggregate=1)
    written = await outbox_ids(pool)
    relay = OutboxRelay(pool, producer=None, service="test", signal=OutboxSignal(), batch_size=3)  # type: ignore[arg-type]  # reads only
    lease = RelayLease("test")
    async with pool.acquire() as conn:
        assert await lease.try_acquire(conn)
        first = await relay._oldest_rows(conn, lease)
        assert [r["id"] for r in first] == written[:3]
        second = await relay._oldest_rows(conn, lease, acknowledged=written[:3])
        assert [r["id"] for r in second] == written[3:]
        assert await outbox_ids(pool) == written[3:]
        assert await relay._oldest_rows(conn, lease, acknowledged=written[3:]) == []
        assert await outbox_ids(pool) == []

        await append_matters(pool, f"firm-{uuid.uuid4()}", aggregates=2, per_aggregate=1)
        more = await outbox_ids(pool)
        await pool.execute("UPDATE outbox_relay_lease SET holder = 'another', epoch = epoch + 1")
        with pytest.raises(LeaseLost):
            await relay._oldest_rows(conn, lease, acknowledged=more)
        assert await outbox_ids(pool) == more
