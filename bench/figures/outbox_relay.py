"""Figure 3. Outbox relay: commit-to-Kafka-ack latency at 1,000 events/s, and the most events/s it drains.

System: commands commit a PaymentReceived through the runtime's Writer / UnitOfWork (events + outbox rows in
one transaction, then the relay is woken), and `OutboxRelay` publishes them with the runtime's producer.
Baseline: a bare AIOKafkaProducer with the same settings (`make_producer`: idempotent, acks=all, linger 2 ms)
sending the same records (same key, value and CloudEvents headers) to a topic of the same shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.context import BenchContext
from bench.measure import Latencies, open_loop, rotating_rounds
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import SOURCE, Payment, payment_received, records, routed_to
from paylinks_events import Envelope, KafkaRecord, PaymentReceived
from paylinks_runtime import event_store
from paylinks_runtime.kafka import make_producer
from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.tracing import tracer
from paylinks_runtime.unit_of_work import OutboxSignal, UnitOfWork, Writer

RATE = 1_000  # offered events/s
WARMUP_SECONDS = 1  # connections, prepared statements, producer metadata: not part of the figure
POOL_SIZE = 10  # a service's default db_pool_max_size
PREFILL_BATCH = 1_000
STOP_TIMEOUT = 30.0


class AckClock:
    """Stands in for the relay's producer: forwards every send and notes when Kafka acknowledged it.

    The relay only calls `send`; the note is taken in the ack future's done callback, keyed by `ce_id`.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self.acked_at: dict[str, float] = {}
        self.failures = 0

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await self._producer.send(topic, **kwargs)
        ce_id = dict(kwargs["headers"])["ce_id"].decode()
        future.add_done_callback(lambda f: self._note(ce_id, f))
        return future

    def _note(self, ce_id: str, future: asyncio.Future[Any]) -> None:
        if future.exception() is None:
            self.acked_at[ce_id] = time.perf_counter()
        else:
            self.failures += 1

    async def wait_for(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.perf_counter() + timeout
        while len(self.acked_at) < count:
            if self.failures or time.perf_counter() > deadline:
                raise RuntimeError(f"{len(self.acked_at)}/{count} acked, {self.failures} sends failed")
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def started(producer: AIOKafkaProducer) -> Any:
    await producer.start()
    try:
        yield producer
    finally:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT)  # it would wait forever for a lost broker


@contextlib.asynccontextmanager
async def running_relay(pool: asyncpg.Pool, clock: AckClock, signal: OutboxSignal) -> Any:
    relay = OutboxRelay(pool, clock, service="bench", signal=signal)  # the clock stands in for the producer
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- system: commit -> ack through the outbox ---------------------------------------------------------------


async def save_payment(uow: UnitOfWork, event: PaymentReceived) -> list[Envelope]:
    payment = Payment(event.payment_id)
    payment.record(event)
    return await uow.save(payment)


def committing_writer(
    writer: Writer, event_cls: type[PaymentReceived], committed_at: dict[str, float]
) -> Callable[[int], Coroutine[Any, Any, None]]:
    """One command per call, in a span as a request would have; notes when its transaction committed."""

    async def write(_: int) -> None:
        event = payment_received(event_cls)
        with tracer().start_as_current_span("bench command"):
            envelopes = await writer.execute(lambda uow: save_payment(uow, event))
        committed_at[envelopes[0].id] = time.perf_counter()

    return write


async def relay_latency(ctx: BenchContext, topic: str, seconds: int) -> tuple[Latencies, list[float]]:
    """Commit -> ack of every event written at RATE for `seconds` (after a warm-up); and the writers' lag."""
    signal, committed_at = OutboxSignal(), dict[str, float]()
    async with (
        ctx.runtime_pool("bench_relay", max_size=POOL_SIZE, reset_sessions=False) as pool,
        started(make_producer(ctx.bootstrap_servers, "bench-relay")) as producer,
    ):
        clock = AckClock(producer)
        async with running_relay(pool, clock, signal):
            write = committing_writer(Writer(pool, SOURCE, signal), routed_to(topic), committed_at)
            await open_loop(RATE, RATE * WARMUP_SECONDS, write)
            await clock.wait_for(len(committed_at))
            warm = set(committed_at)
            lags = await open_loop(RATE, RATE * seconds, write)
            await clock.wait_for(len(committed_at))
    samples = [(clock.acked_at[i] - t) * 1000 for i, t in committed_at.items() if i not in warm]
    return Latencies(samples), lags


async def prefill_outbox(pool: asyncpg.Pool, topic: str, count: int) -> None:
    """`count` outbox rows as the unit of work writes them (event_store.enqueue), many keys."""
    cls = routed_to(topic)
    for start in range(0, count, PREFILL_BATCH):
        envelopes = [
            Envelope(event=payment_received(cls), source=SOURCE)
            for _ in range(min(PREFILL_BATCH, count - start))
        ]
        async with pool.acquire() as conn, conn.transaction():
            await event_store.enqueue(conn, envelopes)


async def relay_drain_rate(ctx: BenchContext, topic: str, count: int) -> float:
    """Events/s from starting the relay on `count` committed outbox rows until the outbox is empty."""
    signal = OutboxSignal()
    async with (
        ctx.runtime_pool("bench_drain", max_size=POOL_SIZE, reset_sessions=False) as pool,
        started(make_producer(ctx.bootstrap_servers, "bench-drain")) as producer,
    ):
        await prefill_outbox(pool, topic, count)
        await pool.execute("VACUUM ANALYZE outbox")
        clock = AckClock(producer)
        began = time.perf_counter()
        async with running_relay(pool, clock, signal):
            await clock.wait_for(count)
            while await pool.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):
                await asyncio.sleep(0.005)
            return count / (time.perf_counter() - began)


# --- baseline: a bare producer with the same settings -----------------------------------------------------


async def send_one(producer: AIOKafkaProducer, record: KafkaRecord) -> asyncio.Future[Any]:
    sent: asyncio.Future[Any] = await producer.send(
        record.topic, value=record.value, key=record.key, headers=record.headers
    )
    return sent


async def bare_latency(ctx: BenchContext, topic: str, seconds: int) -> Latencies:
    """send() -> ack of the same records at RATE, after the same warm-up."""
    warm, measured = records(topic, RATE * WARMUP_SECONDS), records(topic, RATE * seconds)
    samples: list[float] = []
    async with started(make_producer(ctx.bootstrap_servers, "bench-bare")) as producer:

        def sender(batch: list[KafkaRecord], keep: bool) -> Callable[[int], Coroutine[Any, Any, None]]:
            async def send(i: int) -> None:
                began = time.perf_counter()
                await (await send_one(producer, batch[i]))
                if keep:
                    samples.append((time.perf_counter() - began) * 1000)

            return send

        await open_loop(RATE, len(warm), sender(warm, keep=False))
        await open_loop(RATE, len(measured), sender(measured, keep=True))
    return Latencies(samples)


async def bare_rate(ctx: BenchContext, topic: str, count: int) -> float:
    """Events/s of the same records sent as fast as the producer takes them, until the last ack."""
    batch = records(topic, count)
    async with started(make_producer(ctx.bootstrap_servers, "bench-bare-max")) as producer:
        await asyncio.gather(*[await send_one(producer, r) for r in records(topic, 1_000)])  # warm-up
        began = time.perf_counter()
        await asyncio.gather(*[await send_one(producer, r) for r in batch])
        return count / (time.perf_counter() - began)


# --- the figure -------------------------------------------------------------------------------------------


async def drain_rounds(
    ctx: BenchContext, topics: tuple[str, str], drain: int, count: int
) -> dict[str, float]:
    """Median events/s of the relay and of the bare producer over `count` rounds, in a rotating order."""
    runs: dict[str, Callable[[], Awaitable[float]]] = {
        "relay": lambda: relay_drain_rate(ctx, topics[0], drain),
        "bare": lambda: bare_rate(ctx, topics[1], drain),
    }
    rates = await rotating_rounds(runs, count)
    return {name: statistics.median(r) for name, r in rates.items()}


def latency_rows(got: Latencies, bare: Latencies) -> list[Measurement]:
    at = f"@ {RATE:,}/s"
    return [
        Measurement(f"commit->ack p50 {at}", got.p(50), "ms", bare.p(50)),
        Measurement(f"commit->ack p95 {at}", got.p(95), "ms", bare.p(95)),
        Measurement(f"commit->ack p99 {at}", got.p(99), "ms", bare.p(99), (Goal("<", 25),)),  # issue #21
    ]


async def run(ctx: BenchContext) -> FigureResult:
    seconds, drain, count = ctx.size(20, 4), ctx.size(50_000, 10_000), ctx.size(3, 1)
    async with ctx.topics(2) as (relay_topic, bare_topic):
        with ctx.step("latency, relay"):
            relay, lags = await relay_latency(ctx, relay_topic, seconds)
        with ctx.step("latency, bare producer"):
            bare = await bare_latency(ctx, bare_topic, seconds)
        with ctx.step(f"max throughput, {count} round(s)"):
            rates = await drain_rounds(ctx, (relay_topic, bare_topic), drain, count)
    return FigureResult(
        baseline="bare AIOKafkaProducer, same settings, same records",
        rows=[
            *latency_rows(relay, bare),
            Measurement(f"max throughput (drain {drain:,})", rates["relay"], "events/s", rates["bare"]),
        ],
        notes=notes(seconds, drain, count, lags),
        data={
            "relay_latency_ms": relay.summary(),
            "bare_latency_ms": bare.summary(),
            "writer_start_lag_ms": Latencies(lags).summary(),
        },
    )


def notes(seconds: int, drain: int, count: int, lags: list[float]) -> list[str]:
    kept = f"p99 {Latencies(lags).p(99):.1f} ms, max {max(lags):.1f} ms"
    return [
        f"Latency: {RATE:,} commands/s offered open-loop for {seconds} s after a {WARMUP_SECONDS} s warm-up;"
        " each command commits one PaymentReceived through Writer/UnitOfWork (events + outbox rows, one"
        " transaction, the relay woken by the OutboxSignal) and the relay publishes it. Commit time is taken"
        " in the writer when the transaction's COMMIT returned; ack time in the done-callback of the"
        " producer future the relay got for that event (a proxy around the relay's producer, matched by"
        " ce_id). Same clock, same process, as in a service: commands and relay share one event loop.",
        f"How well the writers kept the schedule (start lag): {kept}.",
        "Baseline latency: the same records at the same rate, send() call -> ack, bare producer.",
        f"Throughput: {drain:,} rows pre-filled with event_store.enqueue (committed), then the relay is"
        " started and timed until the outbox is empty; baseline sends the same number of records and"
        f" waits for the last ack. Median of {count} round(s), the two in a rotating order.",
        "Topic routing: the events are a PaymentReceived subclass with the same type name whose `topic` is a"
        " private bench.<uuid> topic, so the runtime's own code writes the outbox rows (no SQL of ours, no"
        " UPDATE) and the contract topics see nothing.",
    ]


FIGURE = Figure(number=3, name="outbox-relay", title="Outbox relay: commit -> Kafka ack", run=run)
