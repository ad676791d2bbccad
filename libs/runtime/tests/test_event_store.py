"""Event store on the real database: optimistic concurrency and events written with the outbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from paylinks_events import ContactCreated, Envelope, MatterOpened, ce_headers, encode_data
from paylinks_runtime import event_store
from paylinks_runtime.aggregate import Aggregate, DomainError
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.unit_of_work import OutboxSignal, Writer


class Matter(Aggregate):
    stream_type = "matter"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.names: list[str] = []

    def when_MatterOpened(self, event: MatterOpened) -> None:
        self.names.append(event.name)

    def open(self, name: str) -> None:
        if self.exists:
            raise DomainError("already_open", "matter already open")
        self.record(MatterOpened(firm_id="f1", matter_id=self.id, contact_id="c1", name=name))


def matter_envelope(matter_id: str, name: str) -> Envelope:
    return Envelope(
        MatterOpened(firm_id="f1", matter_id=matter_id, contact_id="c1", name=name), source="/test"
    )


@pytest.fixture(params=["statement", "copy"])
def append_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test of the append's rows runs on both of its ways in: the one statement, and the COPYs it takes
    for large batches (here from the first event on)."""
    if request.param == "copy":
        monkeypatch.setattr(event_store, "COPY_FROM_EVENTS", 1)
    return str(request.param)


async def test_append_then_load_returns_the_events_in_version_order(
    pool: asyncpg.Pool, append_path: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        version = await event_store.append(
            conn, "m-1", "matter", 0, [matter_envelope("m-1", "a"), matter_envelope("m-1", "b")]
        )
        version = await event_store.append(conn, "m-1", "matter", version, [matter_envelope("m-1", "c")])
    async with pool.acquire() as conn:
        stored = await event_store.load_stream(conn, "m-1")
        outbox = await conn.fetch("SELECT key, topic FROM outbox ORDER BY id")
    assert version == 3
    assert [(s.version, s.event.name) for s in stored] == [(1, "a"), (2, "b"), (3, "c")]  # type: ignore[attr-defined]
    assert [(r["key"], r["topic"]) for r in outbox] == [("m-1", "practice.events")] * 3


async def test_append_stores_the_stored_form_and_enqueues_the_published_record(
    pool: asyncpg.Pool, append_path: str
) -> None:
    published = [matter_envelope("m-form", "Zoë on the wire"), matter_envelope("m-form", "kept as is")]
    kept = [published[0].event.model_copy(update={"name": "redacted"}), published[1].event]
    async with pool.acquire() as conn, conn.transaction():
        await event_store.append(conn, "m-form", "matter", 0, published, kept)
    async with pool.acquire() as conn:
        stored = await event_store.load_stream(conn, "m-form")
        outbox = await conn.fetch("SELECT event_id, key, headers, value FROM outbox ORDER BY id")
    assert [(s.event_id, s.event) for s in stored] == [
        (e.id, k) for e, k in zip(published, kept, strict=True)
    ]
    assert [r["event_id"] for r in outbox] == [e.id for e in published]
    assert [r["value"] for r in outbox] == [encode_data(e.event) for e in published]
    assert [json.loads(r["headers"]) for r in outbox] == [
        [[k, v.decode()] for k, v in ce_headers(e)] for e in published
    ]


async def test_the_store_keeps_each_event_as_the_json_it_published(
    pool: asyncpg.Pool, append_path: str
) -> None:
    # `events.data` is json, not jsonb: the published bytes are kept as they are (jsonb would re-order the
    # keys and re-space them), which is also what makes the append cheap (no binary form to build).
    published = [matter_envelope("m-text", "Zoë"), matter_envelope("m-text", "b")]
    async with pool.acquire() as conn, conn.transaction():
        await event_store.append(conn, "m-text", "matter", 0, published)
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT data::text FROM events WHERE stream_id = 'm-text' ORDER BY version")
        outbox = await conn.fetch("SELECT value FROM outbox ORDER BY id")
    assert [r["data"].encode() for r in rows] == [r["value"] for r in outbox]
    assert [r["value"] for r in outbox] == [encode_data(e.event) for e in published]


async def test_concurrent_appends_at_the_same_version_one_wins_and_the_loser_leaves_nothing(
    pool: asyncpg.Pool, append_path: str
) -> None:
    start = asyncio.Event()

    async def append(name: str) -> str:
        async with pool.acquire() as conn, conn.transaction():
            await start.wait()
            await event_store.append(
                conn,
                "m-race",
                "matter",
                0,
                [matter_envelope("m-race", name), matter_envelope("m-race", name)],
            )
        return name

    tasks = [asyncio.create_task(append(n)) for n in ("first", "second")]
    await asyncio.sleep(0.05)
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, ConcurrencyError)]
    assert len(winners) == 1
    assert len(losers) == 1
    async with pool.acquire() as conn:
        names = await conn.fetch("SELECT data->>'name' AS n FROM events WHERE stream_id = 'm-race'")
        outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE key = 'm-race'")
    assert [r["n"] for r in names] == [winners[0]] * 2
    assert outbox == 2


async def test_a_large_batch_goes_in_by_copy_only_inside_a_transaction(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[int] = []
    copy_in = event_store._copy_in

    async def counted(conn: asyncpg.Connection, *args: Any) -> None:
        copied.append(len(args[3]))
        await copy_in(conn, *args)

    monkeypatch.setattr(event_store, "_copy_in", counted)
    large = event_store.COPY_FROM_EVENTS
    async with pool.acquire() as conn:
        async with conn.transaction():
            version = await event_store.append(conn, "m-big", "matter", 0, matters("m-big", large - 1))
            version = await event_store.append(conn, "m-big", "matter", version, matters("m-big", large))
        # Outside a transaction two COPYs would commit apart: the one statement keeps the append atomic.
        version = await event_store.append(conn, "m-big", "matter", version, matters("m-big", large))
        stored = await event_store.load_stream(conn, "m-big")
        queued = await conn.fetchval("SELECT count(*) FROM outbox WHERE key = 'm-big'")
    assert copied == [large]
    assert [s.version for s in stored] == list(range(1, version + 1))
    assert version == queued == 3 * large - 1


async def test_a_stored_form_for_each_event_or_none_at_all(pool: asyncpg.Pool, append_path: str) -> None:
    published = matters("m-forms", 2)
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(ValueError, match="1 stored forms for 2 events"):
            await event_store.append(conn, "m-forms", "matter", 0, published, [published[0].event])


def matters(matter_id: str, count: int) -> list[Envelope]:
    return [matter_envelope(matter_id, f"name {i}") for i in range(count)]


async def test_writer_retries_a_command_that_lost_a_race(pool: asyncpg.Pool) -> None:
    writer = Writer(pool, "/test")
    attempts = 0

    async def open_or_rename(uow):  # type: ignore[no-untyped-def]
        nonlocal attempts
        attempts += 1
        matter = await uow.load(Matter, "m-retry")
        if attempts == 1:  # someone else appends between our load and our save
            async with pool.acquire() as other, other.transaction():
                await event_store.append(other, "m-retry", "matter", 0, [matter_envelope("m-retry", "other")])
        if not matter.exists:
            matter.open("ours")
        await uow.save(matter)
        return matter

    matter = await writer.execute(open_or_rename)
    assert attempts == 2
    assert matter.names == ["other"]


async def test_aggregate_refuses_a_command_against_its_state(pool: asyncpg.Pool) -> None:
    writer = Writer(pool, "/test")

    async def open_twice(uow):  # type: ignore[no-untyped-def]
        matter = await uow.load(Matter, "m-twice")
        matter.open("x")
        await uow.save(matter)

    await writer.execute(open_twice)
    with pytest.raises(DomainError, match="already open"):
        await writer.execute(open_twice)


async def test_publish_without_a_stream_goes_through_the_outbox_only(pool: asyncpg.Pool) -> None:
    writer = Writer(pool, "/test")

    async def publish(uow):  # type: ignore[no-untyped-def]
        return await uow.publish(ContactCreated(firm_id="f1", contact_id="c9", name="N"))

    (envelope,) = await writer.execute(publish)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        assert await conn.fetchval("SELECT event_id FROM outbox") == envelope.id


# A write of the caller's that guards an append (Writer.save_when): a row that can be closed once.
_CLOSE = (
    "UPDATE doors SET open = false"  # noqa: S608 (a number, no input)
    f" WHERE door_id = ${event_store.GUARD_FIRST_PARAMETER} AND open RETURNING true"
)


async def doors(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE doors (door_id text PRIMARY KEY, open bool NOT NULL)")
    await pool.execute("INSERT INTO doors VALUES ('d1', true)")


async def test_save_when_the_guard_writes_saves_the_events_with_it_in_one_statement(
    pool: asyncpg.Pool,
) -> None:
    await doors(pool)
    signal = OutboxSignal()
    matter = Matter("m-guarded")
    matter.open("guarded")
    assert await Writer(pool, "/test", signal).save_when(matter, _CLOSE, "d1")
    assert (matter.version, matter.pending) == (1, [])
    async with asyncio.timeout(5):  # woken at once, as after a unit of work that wrote the outbox
        await signal.wait(60)
    async with pool.acquire() as conn:
        assert [s.event.name for s in await event_store.load_stream(conn, "m-guarded")] == ["guarded"]  # type: ignore[attr-defined]
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        assert await conn.fetchval("SELECT open FROM doors") is False


async def test_save_when_the_guard_writes_nothing_saves_nothing(pool: asyncpg.Pool) -> None:
    await doors(pool)
    first, second = Matter("m-first"), Matter("m-second")
    first.open("first")
    second.open("second")
    writer = Writer(pool, "/test")
    assert await writer.save_when(first, _CLOSE, "d1")
    assert not await writer.save_when(second, _CLOSE, "d1")  # closed already: the second does not append
    assert (second.version, len(second.pending)) == (0, 1)
    async with pool.acquire() as conn:
        assert await event_store.load_stream(conn, "m-second") == []
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1


async def test_save_when_the_stream_moved_keeps_not_even_the_guards_write(pool: asyncpg.Pool) -> None:
    await doors(pool)
    async with pool.acquire() as conn, conn.transaction():
        await event_store.append(conn, "m-taken", "matter", 0, [matter_envelope("m-taken", "other")])
    late = Matter("m-taken")
    late.open("late")  # decided on version 0: the stream is at 1 now
    with pytest.raises(ConcurrencyError):
        await Writer(pool, "/test").save_when(late, _CLOSE, "d1")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT open FROM doors") is True  # one statement: all or nothing
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
