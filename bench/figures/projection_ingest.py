"""Figure 1. Projection ingest: how many events/s reconciliation-service's projection consumer takes in
when it has a backlog to catch up on, in one process and in two processes sharing its consumer group.

System: the service's own runtime (`create_runtime`: pool, migrations, outbox relay, and the read-model
consumer with the projection's batch handler, its offsets stored in the projection's transaction), its
consumer pointed at a private topic already holding the events; timed from its first poll until its group
has committed the last offset, i.e. until every event is in its tables (offsets are committed only after
the transaction that applied them). Two processes: the service as its console script runs it, twice, one
schema and one consumer group; their steady rate is timed from the first moment a tenth of the events was
committed and the group stood stable with both of them (they join one by one: the first consumes alone
meanwhile) to the last, over the events committed in between; so is the one process's, for the comparison.
Baseline: a bare AIOKafkaConsumer configured as the InboxConsumer's (fresh group, same batch size) reading
the same records and doing nothing with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bench.context import BenchContext
from bench.measure import rotating_rounds
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import payment_pairs
from reconciliation_service.app import create_runtime
from reconciliation_service.config import Settings
from reconciliation_service.consumer import CONSUMER_NAME

from ._projection import (
    PROGRESS_POLL_SECONDS,
    check_read_model,
    committed_progress,
    group_consumer,
    publish,
    read_rate,
    service_settings,
)
from .end_to_end_latency import service_process

PROCESSES = 2
STEADY_FROM = 0.1  # the share of the events committed when the steady rate's clock may start
# A rebalance that makes a member fail and rewind logs these; the two-process runs count them.
REBALANCE_TROUBLE = (b"rewinding", b"IllegalStateError", b"CommitFailedError")


async def service_rate(ctx: BenchContext, topic: str, events: int) -> tuple[float, float]:
    """Events/s of the service's projection consumer from its first poll until all `events` are applied,
    and its steady rate (from STEADY_FROM of them committed to the last)."""
    async with ctx.schema("bench_ingest") as schema:
        settings = service_settings(ctx, schema)
        runtime = create_runtime(settings, [topic])
        await runtime.start()  # the consumer task is spawned, not yet run: it polls first after this
        try:
            began = time.perf_counter()
            progress = await committed_progress(
                ctx, settings.consumer_group_prefix + CONSUMER_NAME, events, STEADY_FROM
            )
            await check_read_model(runtime.pool, events // 2)
        finally:
            await runtime.stop()
    return events / (progress.done - began), progress.steady_rate(events)


async def processes_rate(ctx: BenchContext, topic: str, events: int) -> tuple[float, int]:
    """The steady events/s of PROCESSES service processes sharing one schema and consumer group, and the
    lines of their logs that tell of a failed rebalance."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    logs = [Path(tempfile.gettempdir()) / f"bench-projection-ingest.{i}.log" for i in range(PROCESSES)]
    async with ctx.schema("bench_ingest2") as schema, contextlib.AsyncExitStack() as stack:
        progressing = asyncio.create_task(
            committed_progress(ctx, prefix + CONSUMER_NAME, events, STEADY_FROM, members=PROCESSES)
        )
        try:
            await asyncio.gather(
                *(
                    stack.enter_async_context(
                        service_process(ctx, schema, topic, group_prefix=prefix, log_path=log)
                    )
                    for log in logs
                )
            )
            progress = await progressing
        finally:
            progressing.cancel()
        conn = await asyncpg.connect(ctx.database_url, server_settings={"search_path": schema})
        try:
            await check_read_model(conn, events // 2)
        finally:
            await conn.close()
    trouble = sum(
        line.count(word) for log in logs for line in [log.read_bytes()] for word in REBALANCE_TROUBLE
    )
    return progress.steady_rate(events), trouble


async def run(ctx: BenchContext) -> FigureResult:
    # Quick: enough for two processes to both join the group before the last record (they join ~2.5 s apart).
    pairs, rounds = ctx.size(100_000, 50_000), ctx.size(3, 1)
    events, batch_size = 2 * pairs, Settings().consumer_batch_size
    one: list[tuple[float, float]] = []
    two: list[tuple[float, int]] = []

    async def one_process() -> float:
        one.append(await service_rate(ctx, topic, events))
        return one[-1][0]

    async def two_processes() -> float:
        two.append(await processes_rate(ctx, topic, events))
        return two[-1][0]

    async with ctx.topics(1) as (topic,):
        with ctx.step(f"publish {events:,} events"):
            await publish(ctx, payment_pairs(topic, pairs))
        runs: dict[str, Callable[[], Awaitable[float]]] = {
            "service": one_process,
            "two processes": two_processes,
            "bare": lambda: read_rate(group_consumer(ctx, topic, batch_size), events, batch_size),
        }
        with ctx.step(f"{rounds} round(s), service, two processes and bare consumer"):
            rates = await rotating_rounds(runs, rounds)
    service, bare = statistics.median(rates["service"]), statistics.median(rates["bare"])
    steady_one = statistics.median(steady for _, steady in one)
    steady_two = statistics.median(rates["two processes"])
    trouble = sum(count for _, count in two)
    return FigureResult(
        baseline="bare AIOKafkaConsumer (as the InboxConsumer's), same records, no processing",
        rows=[
            Measurement(
                f"ingest {events:,} events (catch-up)",
                service,
                "events/s",
                bare,
                (Goal(">=", 15_000),),  # issue #21 goal 1, one process
            ),
            Measurement(
                f"ingest {events:,} events, steady, {PROCESSES} processes [vs 1 process, steady]",
                steady_two,
                "events/s",
                steady_one,
                (Goal(">=", 25_000),),  # issue #21 goal 1, two processes
            ),
        ],
        notes=[*notes(events, rounds, batch_size), rebalance_note(trouble)],
        data={"rates": rates, "steady_one_process": [s for _, s in one], "rebalance_trouble_lines": trouble},
    )


def notes(events: int, rounds: int, batch_size: int) -> list[str]:
    return [
        f"Workload: {events:,} events on a private topic of 6 partitions, published before the clock starts:"
        f" {events // 2:,} payments over 500 firms of 4 bank accounts each, every PaymentReceived followed"
        " 1,000 payments later by its PaymentProcessed (same key, so one partition, in that order).",
        "System: reconciliation-service's runtime as its app builds it (create_runtime: pool of 10, runtime"
        " and read-model migrations on a fresh schema, outbox relay, the read-model consumer with the"
        f" projection's batch handler and its offsets in the projection's transaction, batches of"
        f" {batch_size}), its consumer pointed at the private topic with a fresh group. Timed from its first"
        " poll until the group's committed offsets (asked for every"
        f" {PROGRESS_POLL_SECONDS * 1000:.0f} ms) reach the topic's end; then every payment is checked"
        " ready with its two history rows.",
        f"{PROCESSES} processes: the service as its console script serves it (bench/figures/"
        "_reconciliation_server.py), started together on one fresh schema and one consumer group; the"
        f" steady rate is timed from the first poll that finds {STEADY_FROM:.0%} of the events committed and"
        f" the group stable with {PROCESSES} members (they join one by one) to the last, over the events"
        " committed in between; the one-process steady rate beside it is timed the same way.",
        "Baseline: a bare AIOKafkaConsumer with the InboxConsumer's settings (fresh group, earliest,"
        f" max_poll_records={batch_size}, no auto-commit) polling the same records and dropping them; timed"
        " from its first poll (which joins the group, as the service's does) to the last record.",
        f"Median of {rounds} round(s), in a rotating order; every round in the JSON.",
    ]


def rebalance_note(trouble: int) -> str:
    words = ", ".join(w.decode() for w in REBALANCE_TROUBLE)
    return f"Rebalances: {trouble} log line(s) of the {PROCESSES}-process runs name {words}."


FIGURE = Figure(number=1, name="projection-ingest", title="Projection ingest (catch-up)", run=run)
