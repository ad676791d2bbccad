"""Figure 1. Projection ingest: how many events/s reconciliation-service's projection consumer takes in
when it has a backlog to catch up on.

System: the service's own runtime (`create_runtime`: pool, migrations, outbox relay, and the read-model
consumer, an InboxConsumer with the projection's batch handler), its consumer pointed at a private topic
already holding the events; timed from its first poll until its group has committed the last offset, i.e.
until every event is in its tables (offsets are committed only after the transaction that applied them).
Baseline: a bare AIOKafkaConsumer configured as the InboxConsumer's (fresh group, same batch size) reading
the same records and doing nothing with them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable

from bench.context import BenchContext
from bench.measure import rotating_rounds
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import payment_pairs
from reconciliation_service.app import create_runtime
from reconciliation_service.config import Settings
from reconciliation_service.consumer import CONSUMER_NAME

from ._projection import (
    check_read_model,
    group_consumer,
    publish,
    read_rate,
    service_settings,
    wait_until_committed,
)


async def service_rate(ctx: BenchContext, topic: str, events: int) -> float:
    """Events/s of the service's projection consumer from its first poll until all `events` are applied."""
    async with ctx.schema("bench_ingest") as schema:
        settings = service_settings(ctx, schema)
        runtime = create_runtime(settings, [topic])
        await runtime.start()  # the consumer task is spawned, not yet run: it polls first after this
        try:
            began = time.perf_counter()
            await wait_until_committed(ctx, settings.consumer_group_prefix + CONSUMER_NAME, events)
            rate = events / (time.perf_counter() - began)
            await check_read_model(runtime.pool, events // 2)
        finally:
            await runtime.stop()
    return rate


async def run(ctx: BenchContext) -> FigureResult:
    pairs, rounds = ctx.size(100_000, 10_000), ctx.size(3, 1)
    events, batch_size = 2 * pairs, Settings().consumer_batch_size
    async with ctx.topics(1) as (topic,):
        with ctx.step(f"publish {events:,} events"):
            await publish(ctx, payment_pairs(topic, pairs))
        runs: dict[str, Callable[[], Awaitable[float]]] = {
            "service": lambda: service_rate(ctx, topic, events),
            "bare": lambda: read_rate(group_consumer(ctx, topic, batch_size), events, batch_size),
        }
        with ctx.step(f"{rounds} round(s), service and bare consumer"):
            rates = await rotating_rounds(runs, rounds)
    service, bare = statistics.median(rates["service"]), statistics.median(rates["bare"])
    return FigureResult(
        baseline="bare AIOKafkaConsumer (as the InboxConsumer's), same records, no processing",
        rows=[
            Measurement(
                f"ingest {events:,} events (catch-up)",
                service,
                "events/s",
                bare,
                (Goal(">=", 20_000), Goal(">=", 0.25, "ratio")),
            )
        ],
        notes=notes(events, rounds, batch_size),
        data={"rates": rates},
    )


def notes(events: int, rounds: int, batch_size: int) -> list[str]:
    return [
        f"Workload: {events:,} events on a private topic of 6 partitions, published before the clock starts:"
        f" {events // 2:,} payments over 500 firms of 4 bank accounts each, every PaymentReceived followed"
        " 1,000 payments later by its PaymentProcessed (same key, so one partition, in that order).",
        "System: reconciliation-service's runtime as its app builds it (create_runtime: pool of 10, runtime"
        " and read-model migrations on a fresh schema, outbox relay, the read-model InboxConsumer with the"
        f" projection's batch handler, batches of {batch_size}), its consumer pointed at the private topic"
        " with a fresh group. Timed from its first poll until the group's committed offsets reach the"
        " topic's end; then every payment is checked ready with its two history rows.",
        "Baseline: a bare AIOKafkaConsumer with the InboxConsumer's settings (fresh group, earliest,"
        f" max_poll_records={batch_size}, no auto-commit) polling the same records and dropping them; timed"
        " from its first poll (which joins the group, as the service's does) to the last record.",
        f"Median of {rounds} round(s), service and bare in a rotating order; every round in the JSON.",
    ]


FIGURE = Figure(number=1, name="projection-ingest", title="Projection ingest (catch-up)", run=run)
