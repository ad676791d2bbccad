"""Figure 5. Rebuild: how many events/s `reconciliation-rebuild` replays into a fresh read model.

System: reconciliation's `rebuild()` (staging schema, the Replayer and its helper process each reading half
the partitions from the beginning without a consumer group into a bulk load: raw COPY, a set-based build of
every read-model table, keys and indexes after; then the switch into the service schema) pointed at a
private topic that holds the events; timed from its start to the switch's commit.
Baseline: a bare AIOKafkaConsumer configured as the Replayer's (no group, same batch size, partitions
assigned and read from the beginning), reading the same records and doing nothing with them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg

from bench.context import BenchContext
from bench.measure import rotating_rounds
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import payment_pairs
from reconciliation_service.rebuild import rebuild
from reconciliation_service.replayer import BATCH_SIZE

from ._projection import check_read_model, partitions, publish, read_rate, replay_consumer, service_settings


async def rebuild_rate(ctx: BenchContext, topic: str, events: int) -> float:
    """Events/s of a whole rebuild of a fresh schema from `events` on `topic`, checked afterwards."""
    async with ctx.schema("bench_rebuild") as schema:
        try:
            began = time.perf_counter()
            report = await rebuild(service_settings(ctx, schema), [topic])
            elapsed = time.perf_counter() - began
        finally:
            await drop_schema(ctx, f"{schema}_rebuild")  # rebuild() drops it, unless it failed first
        if report.events_applied != events:
            raise RuntimeError(f"the rebuild applied {report.events_applied} of {events} events")
        conn = await asyncpg.connect(ctx.database_url, server_settings={"search_path": schema})
        try:
            await check_read_model(conn, events // 2)
        finally:
            await conn.close()
    return events / elapsed


async def drop_schema(ctx: BenchContext, name: str) -> None:
    conn = await asyncpg.connect(ctx.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def run(ctx: BenchContext) -> FigureResult:
    # A rebuild of 1M events takes ~30 s here, and single rebuilds on the same code spread from 27,500 to
    # 37,900 events/s within an hour (bench/README.md, 2026-12-05 evening): one alone says little.
    pairs, rounds = ctx.size(500_000, 25_000), ctx.size(3, 1)
    events = 2 * pairs
    async with ctx.topics(1) as (topic,):
        with ctx.step(f"publish {events:,} events"):
            await publish(ctx, payment_pairs(topic, pairs))
        runs: dict[str, Callable[[], Awaitable[float]]] = {
            "rebuild": lambda: rebuild_rate(ctx, topic, events),
            "bare": lambda: read_rate(
                replay_consumer(ctx, BATCH_SIZE), events, BATCH_SIZE, partitions(topic)
            ),
        }
        with ctx.step(f"{rounds} round(s), rebuild and bare consumer"):
            rates = await rotating_rounds(runs, rounds)
    system, baseline = statistics.median(rates["rebuild"]), statistics.median(rates["bare"])
    return FigureResult(
        baseline="bare AIOKafkaConsumer (as the Replayer's), same records, no processing",
        rows=[
            Measurement(
                f"rebuild from {events:,} events",
                system,
                "events/s",
                baseline,
                (Goal(">=", 30_000),),  # issue #21 goal 2
            )
        ],
        notes=notes(events, rounds),
        data={"rates": rates},
    )


def notes(events: int, rounds: int) -> list[str]:
    return [
        f"Workload: {events:,} events on a private topic of 6 partitions, published before the clock starts,"
        " shaped as in figure 1 (payments over 500 firms of 4 accounts, each PaymentReceived followed 1,000"
        " payments later by its PaymentProcessed).",
        "System: reconciliation_service.rebuild.rebuild() with the service's settings on a fresh schema and"
        " the private topic as its only topic: prepare (migrations, staging schema without keys or indexes,"
        f" Replayer start), replay as a bulk load (batches of {BATCH_SIZE} checked as read and COPYed raw"
        " into unindexed tables, each row marked when it is its event id's first delivery; the partitions"
        " shared with a helper process; then every read-model table built set-based, payments in two parts"
        " side by side, the history from the first deliveries, then its keys and indexes, two steps at a"
        " time; then the per-event catch-up), switch (exclusive read-model"
        " lock, drain check, catch-up, tables moved into the service schema). Timed from the call to its"
        " return; then the read model is checked: every payment ready, two history rows each.",
        "Baseline: a bare AIOKafkaConsumer with the Replayer's settings (no group, no auto-commit,"
        f" max_poll_records={BATCH_SIZE}) assigned the topic's partitions from the beginning, polling the"
        " same records and dropping them; timed from its assignment to the last record.",
        f"Median of {rounds} round(s), rebuild and bare in a rotating order; every round in the JSON.",
    ]


FIGURE = Figure(number=5, name="rebuild", title="Rebuild by replay", run=run)
