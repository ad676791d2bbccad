"""Figure 4. Event store append throughput, batches of 1 and of 100 events per transaction.

System: `paylinks_runtime.event_store.append` (asyncpg), which writes the events AND their outbox rows in
the caller's transaction: with one statement, or by two binary COPYs from 50 events on. Baseline: the
`eventsourcing` library's `PostgresApplicationRecorder.insert_events` (psycopg 3, C build), what an
eventsourcing Application records with on PostgreSQL: its events table with a notification id (its feed for
downstream readers, what our outbox is for), under a table lock. Shown too: its `PostgresAggregateRecorder`
(events only, no feed, no lock). Same database, schemas side by side, same payloads, same durability, same
number of concurrent writers; every round runs each store once, in a rotating order, on emptied tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from urllib.parse import urlsplit

import asyncpg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresDatastore

from bench.context import BenchContext
from bench.measure import rotating_rounds
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import SOURCE, payment_received
from paylinks_events import Envelope, encode_data
from paylinks_runtime import event_store

WRITERS = 8  # concurrent transactions: a service's pool (10) less the relay's and a consumer's connection
TOPIC = "paylinks_events.models:PaymentReceived"  # eventsourcing's name of the event class


@dataclass(frozen=True)
class Workload:
    """`count` events in transactions of `batch` events; each transaction starts a new stream."""

    batch: int
    count: int

    def streams(self) -> Iterator[list[Envelope]]:
        for _ in range(self.count // self.batch):
            yield [Envelope(event=payment_received(), source=SOURCE) for _ in range(self.batch)]


# --- system -----------------------------------------------------------------------------------------------


class RuntimeStore:
    """Our event store: WRITERS tasks on one event loop, each appending one new stream per transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def rate(self, streams: list[list[Envelope]]) -> float:
        pending = iter(streams)

        async def writer() -> None:
            for envelopes in pending:
                async with self._pool.acquire() as conn, conn.transaction():
                    await event_store.append(conn, str(uuid.uuid4()), "payment", 0, envelopes)

        began = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        return sum(map(len, streams)) / (time.perf_counter() - began)

    async def reset(self) -> None:
        await self._pool.execute("TRUNCATE events, outbox")

    async def synchronous_commit(self) -> str:
        return str(await self._pool.fetchval("SHOW synchronous_commit"))


# --- baseline ---------------------------------------------------------------------------------------------


class EventsourcingStore:
    """An eventsourcing recorder, driven by WRITERS threads (its API is synchronous), one connection each."""

    def __init__(self, recorder: PostgresAggregateRecorder) -> None:
        self._recorder = recorder
        self._datastore = recorder.datastore

    async def rate(self, streams: list[list[Envelope]]) -> float:
        return await asyncio.to_thread(self._rate, [stored_stream(s) for s in streams])

    def _rate(self, streams: list[list[StoredEvent]]) -> float:
        with ThreadPoolExecutor(WRITERS) as threads:
            began = time.perf_counter()
            list(threads.map(self._recorder.insert_events, streams))
            return sum(map(len, streams)) / (time.perf_counter() - began)

    async def reset(self) -> None:
        table = f'"{self._datastore.schema}".{self._recorder.events_table_name}'
        await asyncio.to_thread(self._fetch, f"TRUNCATE {table}")

    async def synchronous_commit(self) -> str:
        return await asyncio.to_thread(self._fetch, "SHOW synchronous_commit")

    def _fetch(self, sql: str) -> str:
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(sql)
            row = curs.fetchone() if curs.description else None
        return str(next(iter(row.values()))) if row else ""


def stored_stream(envelopes: list[Envelope]) -> list[StoredEvent]:
    """The same events as eventsourcing records them: one row each, the same JSON bytes as `state`."""
    originator = uuid.uuid4()
    return [
        StoredEvent(originator, version, TOPIC, encode_data(e.event))
        for version, e in enumerate(envelopes, start=1)
    ]


@contextlib.contextmanager
def eventsourcing_datastore(database_url: str, schema: str) -> Iterator[PostgresDatastore]:
    url = urlsplit(database_url)
    datastore = PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or "",
        pool_size=WRITERS,
        schema=schema,
    )
    try:
        yield datastore
    finally:
        datastore.close()


def recorder(
    cls: type[PostgresAggregateRecorder], datastore: PostgresDatastore, table: str
) -> EventsourcingStore:
    created = cls(datastore, events_table_name=table)
    created.create_table()
    return EventsourcingStore(created)


# --- the figure -------------------------------------------------------------------------------------------

Store = RuntimeStore | EventsourcingStore
OURS, APPLICATION, AGGREGATE = "ours", "application", "aggregate"


async def rounds(stores: dict[str, Store], work: Workload, count: int) -> dict[str, list[float]]:
    """Events/s of each store in each of `count` rounds, each run on emptied tables."""
    streams = list(work.streams())

    def run_on(store: Store) -> Callable[[], Awaitable[float]]:
        async def once() -> float:
            rate = await store.rate(streams)
            await store.reset()
            return rate

        return once

    return await rotating_rounds({name: run_on(store) for name, store in stores.items()}, count)


async def warm_up(stores: dict[str, Store]) -> None:
    """Connections opened and statements prepared everywhere before anything is timed."""
    for work in (Workload(1, 200), Workload(100, 2_000)):
        await rounds(stores, work, 1)


@contextlib.asynccontextmanager
async def all_stores(ctx: BenchContext) -> AsyncIterator[dict[str, Store]]:
    async with (
        ctx.runtime_pool("bench_append", max_size=WRITERS, reset_sessions=False) as pool,
        ctx.schema("bench_es") as schema,
    ):
        with eventsourcing_datastore(ctx.database_url, schema) as datastore:
            yield {
                OURS: RuntimeStore(pool),
                APPLICATION: recorder(PostgresApplicationRecorder, datastore, "stored_events"),
                AGGREGATE: recorder(PostgresAggregateRecorder, datastore, "aggregate_events"),
            }


async def check_durability(stores: dict[str, Store]) -> None:
    found = {await store.synchronous_commit() for store in stores.values()}
    if found != {"on"}:
        raise RuntimeError(f"synchronous_commit must be on everywhere, found {found}")


def rows_for(work: Workload, medians: dict[str, float]) -> list[Measurement]:
    label = f"{work.batch} event{'s' if work.batch > 1 else ''}/transaction"
    ahead = (Goal(">=", 2, "ratio"),)  # issue #21 goal 5: twice the application recorder
    return [
        Measurement(f"append, {label}", medians[OURS], "events/s", medians[APPLICATION], ahead),
        Measurement(
            f"append, {label} [vs aggregate recorder]", medians[OURS], "events/s", medians[AGGREGATE]
        ),
    ]


async def run(ctx: BenchContext) -> FigureResult:
    workloads = [Workload(1, ctx.size(10_000, 1_000)), Workload(100, ctx.size(100_000, 10_000))]
    count = ctx.size(3, 1)
    rows, data = [], {}
    async with all_stores(ctx) as stores:
        await check_durability(stores)
        await warm_up(stores)
        for work in workloads:
            with ctx.step(f"{work.count:,} events in batches of {work.batch}, {count} round(s)"):
                rates = await rounds(stores, work, count)
            data[f"batch_{work.batch}_events_per_s"] = rates
            rows += rows_for(work, {name: statistics.median(r) for name, r in rates.items()})
    return FigureResult(
        baseline=f"eventsourcing {version('eventsourcing')} PostgresApplicationRecorder.insert_events"
        " ([vs aggregate recorder]: its PostgresAggregateRecorder)",
        rows=rows,
        notes=notes(workloads, count),
        data=data,
    )


def notes(workloads: list[Workload], count: int) -> list[str]:
    sizes = ", ".join(f"{w.count:,} events in transactions of {w.batch}" for w in workloads)
    return [
        f"Work: {sizes}; every transaction starts a new stream (versions 1..batch); {WRITERS} concurrent"
        f" writers for every store; median of {count} round(s); each round runs every store once, in a"
        " rotating order, on emptied tables, after a warm-up of all of them.",
        "Payload: a PaymentReceived of ~450 bytes of JSON. Ours stores it as json (checked, kept as"
        " sent) in `events` and again as the Kafka record (bytea value + CloudEvents headers) in"
        " `outbox`: two rows per event. A transaction of one event is BEGIN, one statement (a"
        " data-modifying CTE; the JSON sent once, `events.data` cast from it), COMMIT; one of 100 is"
        " BEGIN, a binary COPY into each table (the JSON sent twice), COMMIT"
        " (`event_store.COPY_FROM_EVENTS`)."
        " eventsourcing stores the same bytes once, as `state` (bytea).",
        "All are timed from already built events (our Envelopes, its StoredEvents): its mapper/transcoder"
        " is not timed, while our append's encoding of each event (once, pydantic's JSON encoder) and of its"
        " headers is.",
        "Durability: synchronous_commit=on checked on every store's connection; one COMMIT per batch.",
        "eventsourcing runs as its docs set it up for PostgreSQL: psycopg 3 with the C build"
        f" (psycopg[binary]), a pool of {WRITERS} connections, one thread per writer (its API is"
        " synchronous). The application recorder (the one an eventsourcing Application uses) takes LOCK TABLE"
        " ... IN EXCLUSIVE MODE and NOTIFYs in every transaction, so its notification ids follow commit"
        " order: that serialises its writers. The aggregate recorder writes one table in one autocommit"
        " statement: no feed, no lock, one round trip.",
    ]


FIGURE = Figure(number=4, name="event-store-append", title="Event store append throughput", run=run)
