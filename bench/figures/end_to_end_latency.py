"""Figure 2. End-to-end latency at 100 and at 1,000 payments/s: from a PaymentProcessed being published to
the payment showing as ready through the reconciliation API.

System: reconciliation-service in its own process (as `make up` runs it: uvicorn, its consumer and outbox
relay), its read-model consumer on a private topic. The bench offers 100, then 1,000 payments/s open-loop:
each tick publishes one payment's PaymentReceived and, a second later in the schedule, its PaymentProcessed;
a staff client polls GET /v1/unlinked-payments?status=ready over real HTTP and notes when each payment
appears. Baseline: the same schedule on another private topic, read by a bare AIOKafkaConsumer configured
as the InboxConsumer's in the bench process: publish -> the record in the consumer's hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.context import BenchContext
from bench.measure import Latencies, open_loop, percentile
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import bank_accounts, payment_processed, payment_received, routed, traced
from paylinks_devstack.stack import free_port
from paylinks_events import KafkaRecord, PaymentProcessed, PaymentReceived, to_record
from paylinks_runtime.auth import issue_token
from paylinks_runtime.kafka import make_producer
from reconciliation_service.config import Settings
from reconciliation_service.cursor import Position, encode

from ._projection import group_consumer
from .outbox_relay import started

RATE = 1_000  # payments/s offered under load: as many PaymentReceived and PaymentProcessed each
REALISTIC_RATE = 100  # payments/s of a realistic day's peak (issue #21 goal 4)
LEAD_SECONDS = (
    1  # a payment's PaymentReceived goes this much earlier in the schedule than its PaymentProcessed
)
WARMUP_SECONDS = 1  # the first payments processed: not part of the figure
POLL_INTERVAL = 0.01  # s between two polls of the staff list
PAGE = 200  # the largest page: one poll sees up to 200 newly ready payments
REPO = Path(__file__).resolve().parents[2]
SERVICE_LOG = Path(tempfile.gettempdir()) / "bench-end-to-end-latency.service.log"  # kept for a failed run
START_TIMEOUT, DRAIN_TIMEOUT = 60.0, 60.0


@dataclass
class Schedule:
    """The payments of a run, in the order their PaymentProcessed is published (and the list sorts them:
    received_at grows by 1/rate), and when each PaymentProcessed was handed to the producer."""

    rate: int
    firm_id: str
    received: list[KafkaRecord]
    processed: list[KafkaRecord]
    positions: list[Position]
    published_at: dict[str, float] = field(default_factory=dict)

    @classmethod
    def make(cls, topic: str, payments: int, rate: int = RATE) -> Schedule:
        firm_id = f"bench-firm-{uuid.uuid4().hex[:8]}"
        accounts = [account for _, account in bank_accounts(1, 4)]
        received_cls, processed_cls = routed(PaymentReceived, topic), routed(PaymentProcessed, topic)
        start = datetime.now(UTC)
        events = [
            payment_received(
                received_cls,
                firm_id=firm_id,
                bank_account_id=accounts[i % len(accounts)],
                received_at=start + timedelta(seconds=i / rate),
            )
            for i in range(payments)
        ]
        return cls(
            rate,
            firm_id,
            [to_record(traced(e)) for e in events],
            [to_record(traced(payment_processed(e, processed_cls))) for e in events],
            [Position(e.received_at, e.payment_id) for e in events],
        )

    def payment_id(self, i: int) -> str:
        return self.positions[i].payment_id

    def measured(self) -> list[str]:
        return [p.payment_id for p in self.positions[self.rate * WARMUP_SECONDS :]]


async def offer(producer: AIOKafkaProducer, schedule: Schedule) -> list[float]:
    """Tick i publishes payment i's PaymentReceived and payment (i - lead)'s PaymentProcessed, at `rate` ticks
    per second whether or not the system keeps up; returns each tick's start lag (ms)."""
    lead, count = schedule.rate * LEAD_SECONDS, len(schedule.positions)
    acks: list[asyncio.Future[Any]] = []

    async def send(record: KafkaRecord) -> None:
        acks.append(
            await producer.send(record.topic, value=record.value, key=record.key, headers=record.headers)
        )

    async def tick(i: int) -> None:
        if i < count:
            await send(schedule.received[i])
        if i >= lead:
            schedule.published_at[schedule.payment_id(i - lead)] = time.perf_counter()
            await send(schedule.processed[i - lead])

    lags = await open_loop(schedule.rate, count + lead, tick)
    await asyncio.gather(*acks)
    return lags


# --- system: the service's API, polled like a staff client --------------------------------------------------


class ReadyList:
    """The firm's list of ready payments, polled one page at a time from just before the oldest payment not
    seen yet (the list's keyset order is the schedule's); a full page is followed by the next page on the
    next poll. Notes when each payment first shows."""

    def __init__(self, client: httpx.AsyncClient, schedule: Schedule) -> None:
        self._client, self._schedule = client, schedule
        self.seen_at: dict[str, float] = {}
        self.poll_ms: list[float] = []
        self._frontier = 0  # every payment before this index has been seen
        self._next_page: str | None = None  # where a full page left off

    async def watch(self, payments: list[str], stop: asyncio.Event) -> None:
        """Poll every POLL_INTERVAL until every one of `payments` was seen, or `stop` is set."""
        deadline = None
        while not all(p in self.seen_at for p in payments):
            if stop.is_set():  # the load is over: give the system DRAIN_TIMEOUT to show the rest
                deadline = deadline or time.perf_counter() + DRAIN_TIMEOUT
                if time.perf_counter() > deadline:
                    return
            await self.poll()
            await asyncio.sleep(POLL_INTERVAL)

    async def poll(self) -> None:
        """One request: one page from where the last full page stopped, else from the frontier."""
        cursor = self._next_page or self._frontier_cursor()
        params = {"status": "ready", "limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
        began = time.perf_counter()
        response = await self._client.get("/v1/unlinked-payments", params=params)
        response.raise_for_status()
        now, body = time.perf_counter(), response.json()
        self.poll_ms.append((now - began) * 1000)
        for item in body["items"]:
            self.seen_at.setdefault(item["payment_id"], now)
        self._next_page = body["next_cursor"]
        self._advance()

    def _frontier_cursor(self) -> str | None:
        return encode(self._schedule.positions[self._frontier - 1]) if self._frontier else None

    def _advance(self) -> None:
        positions = self._schedule.positions
        while self._frontier < len(positions) and positions[self._frontier].payment_id in self.seen_at:
            self._frontier += 1


@contextlib.asynccontextmanager
async def service_process(
    ctx: BenchContext,
    schema: str,
    topic: str,
    *,
    group_prefix: str | None = None,
    log_path: Path = SERVICE_LOG,
) -> AsyncIterator[str]:
    """reconciliation-service as its own process on a free port; yields its base URL once it is ready.
    Processes given one `group_prefix` (and schema) share the consumer group, as a scaled-out service."""
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": ctx.bootstrap_servers,
        "DATABASE_URL": ctx.database_url,
        "DB_SCHEMA": schema,
        "HTTP_PORT": str(port),
        "CONSUMER_GROUP_PREFIX": group_prefix or f"bench-{uuid.uuid4().hex[:8]}-",
        "LOG_LEVEL": "WARNING",
    }
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bench.figures._reconciliation_server", topic),
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_ready(url, process, log_path)
            yield url
        finally:
            process.terminate()  # uvicorn shuts down gracefully: the consumer and pool are stopped
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def wait_ready(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(START_TIMEOUT):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"reconciliation-service exited with {process.returncode}; see {log}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


def staff_client(url: str, firm_id: str) -> httpx.AsyncClient:
    token = issue_token(
        Settings().auth_jwt_secret,
        user_id="bench-staff",
        firm_id=firm_id,
        roles=["staff"],
        ttl=timedelta(hours=1),
    )
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def wait_consuming(ctx: BenchContext, url: str, topic: str) -> None:
    """Until a probe payment of another firm is ready through the API: the consumer has joined and reads."""
    probe = Schedule.make(topic, 1)
    async with started(make_producer(ctx.bootstrap_servers, "bench-probe")) as producer:
        for record in (probe.received[0], probe.processed[0]):
            await producer.send_and_wait(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
    async with staff_client(url, probe.firm_id) as client, asyncio.timeout(START_TIMEOUT):
        while (await client.get(f"/v1/payments/{probe.payment_id(0)}")).json().get("status") != "ready":
            await asyncio.sleep(0.1)


async def service_latency(
    ctx: BenchContext, topic: str, seconds: int, rate: int = RATE
) -> tuple[Latencies, list[float], ReadyList, datetime]:
    schedule = Schedule.make(topic, rate * (WARMUP_SECONDS + seconds), rate)
    async with ctx.schema("bench_e2e") as schema, service_process(ctx, schema, topic) as url:
        await wait_consuming(ctx, url, topic)
        async with (
            staff_client(url, schedule.firm_id) as client,
            started(make_producer(ctx.bootstrap_servers, "bench-e2e")) as producer,
        ):
            ready, stop = ReadyList(client, schedule), asyncio.Event()
            watcher = asyncio.create_task(ready.watch(schedule.measured(), stop))
            wall, clock = datetime.now(UTC), time.perf_counter()  # the wall clock beside the bench's own
            lags = await offer(producer, schedule)
            stop.set()
            await watcher
    first = schedule.published_at[schedule.measured()[0]]
    return latencies(schedule, ready.seen_at), lags, ready, wall + timedelta(seconds=first - clock)


# --- baseline: the same schedule, read by a bare consumer ---------------------------------------------------


async def bare_latency(ctx: BenchContext, topic: str, seconds: int, rate: int = RATE) -> Latencies:
    schedule = Schedule.make(topic, rate * (WARMUP_SECONDS + seconds), rate)
    consumer, arrived = group_consumer(ctx, topic, Settings().consumer_batch_size), dict[str, float]()
    await consumer.start()
    reader = asyncio.create_task(note_arrivals(consumer, arrived))
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not consumer.assignment():  # joined its group: as the service's consumer before the load
                await asyncio.sleep(0.05)
        async with started(make_producer(ctx.bootstrap_servers, "bench-e2e-bare")) as producer:
            await offer(producer, schedule)
        async with asyncio.timeout(DRAIN_TIMEOUT):
            while not all(p in arrived for p in schedule.measured()):
                await asyncio.sleep(0.05)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await consumer.stop()
    return latencies(schedule, arrived)


async def note_arrivals(consumer: AIOKafkaConsumer, arrived: dict[str, float]) -> None:
    """When each PaymentProcessed record (by key: the payment id) came out of getmany; nothing else."""
    while True:
        batch = await consumer.getmany(timeout_ms=200)
        now = time.perf_counter()
        for records in batch.values():
            for record in records:
                if ("ce_type", b"PaymentProcessed") in record.headers:
                    arrived.setdefault(record.key.decode(), now)


# --- the figure ---------------------------------------------------------------------------------------------


def latencies(schedule: Schedule, visible_at: dict[str, float]) -> Latencies:
    missing = [p for p in schedule.measured() if p not in visible_at]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(schedule.measured())} payments never showed")
    return Latencies([(visible_at[p] - schedule.published_at[p]) * 1000 for p in schedule.measured()])


P99_GOAL_MS = {RATE: 250, REALISTIC_RATE: 50}  # issue #21 goal 4


def plot(path: Path, system: Latencies, bare: Latencies, rate: int) -> None:
    """Histogram and CDF of both distributions, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = (("reconciliation API (system)", system), ("bare produce -> consume (baseline)", bare))
    top = max(system.p(99.9), bare.p(99.9)) * 1.1
    for label, lat in series:
        hist.hist([min(s, top) for s in lat.samples_ms], bins=100, range=(0, top), alpha=0.6, label=label)
        ordered = sorted(lat.samples_ms)
        cdf.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label)
    for p in (50, 95, 99):
        cdf.axvline(system.p(p), linestyle=":", color="grey")
        cdf.text(system.p(p), 0.02 + p / 200, f" p{p} {system.p(p):.0f} ms", fontsize=8)
    goal = P99_GOAL_MS[rate]
    cdf.axvline(goal, color="red", linewidth=0.8, label=f"goal: p99 < {goal} ms")
    hist.set(
        title="Latency histogram", xlabel="ms (beyond the p99.9 clipped into the last bin)", ylabel="payments"
    )
    cdf.set(title="CDF", xlabel="ms", ylabel="fraction of payments", xlim=(0, top))
    for ax in (hist, cdf):
        ax.legend(fontsize=8)
    fig.suptitle(f"PaymentProcessed published -> ready through the API, {rate:,} payments/s open-loop")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class AtRate:
    """One rate's run: the service's latencies and the bare consumer's, on the same schedule."""

    rate: int
    seconds: int
    system: Latencies
    bare: Latencies
    lags: list[float]
    poll_ms: list[float]
    png: Path
    measured_from: datetime  # when the first measured payment's PaymentProcessed was published

    def p99_each_second(self) -> list[float]:
        """The p99 of each second of payments, in publishing order (a second is `rate` payments): to set
        beside what else the machine did then (Postgres's checkpoints in its log, another process)."""
        samples = self.system.samples_ms
        return [percentile(samples[i : i + self.rate], 99) for i in range(0, len(samples), self.rate)]

    def rows(self) -> list[Measurement]:
        at = f"@ {self.rate:,} payments/s"
        return [
            Measurement(f"processed -> visible in API p50 {at}", self.system.p(50), "ms", self.bare.p(50)),
            Measurement(f"processed -> visible in API p95 {at}", self.system.p(95), "ms", self.bare.p(95)),
            Measurement(
                f"processed -> visible in API p99 {at}",
                self.system.p(99),
                "ms",
                self.bare.p(99),
                (Goal("<", P99_GOAL_MS[self.rate]),),
            ),
        ]

    def data(self) -> dict[str, Any]:
        return {
            "system_latency_ms": self.system.summary(),
            "bare_latency_ms": self.bare.summary(),
            "system_percentiles_ms": [self.system.p(p) for p in range(1, 101)],
            "bare_percentiles_ms": [self.bare.p(p) for p in range(1, 101)],
            "poll_ms": Latencies(self.poll_ms).summary(),
            "tick_start_lag_ms": Latencies(self.lags).summary(),
            "plot": self.png.name,
            "measured_from": self.measured_from.isoformat(),
            "system_p99_each_second_ms": self.p99_each_second(),
        }


async def at_rate(ctx: BenchContext, rate: int, seconds: int, png_name: str) -> AtRate:
    async with ctx.topics(2) as (topic, bare_topic):
        with ctx.step(f"service, {seconds} s at {rate:,} payments/s"):
            system, lags, ready, measured_from = await service_latency(ctx, topic, seconds, rate)
        with ctx.step(f"bare consumer, {seconds} s at {rate:,} payments/s"):
            bare = await bare_latency(ctx, bare_topic, seconds, rate)
    png = ctx.out_dir / png_name
    plot(png, system, bare, rate)
    return AtRate(rate, seconds, system, bare, lags, ready.poll_ms, png, measured_from)


async def run(ctx: BenchContext) -> FigureResult:
    realistic = await at_rate(ctx, REALISTIC_RATE, ctx.size(60, 10), "end-to-end-latency-100.png")
    loaded = await at_rate(ctx, RATE, ctx.size(30, 5), "end-to-end-latency.png")
    return FigureResult(
        baseline="bare produce -> consume (AIOKafkaConsumer as the InboxConsumer's), same schedule",
        rows=[*realistic.rows(), *loaded.rows()],
        notes=notes(realistic, loaded),
        data={
            **loaded.data(),  # the 1,000/s run under the keys it always had
            f"at_{REALISTIC_RATE}_per_s": realistic.data(),
        },
    )


def notes(realistic: AtRate, loaded: AtRate) -> list[str]:
    def load(r: AtRate) -> str:
        return (
            f"{r.rate:,} payments/s for {WARMUP_SECONDS + r.seconds} s ({2 * r.rate:,} events/s reach the"
            f" consumer; ticks started {percentile(r.lags, 99):.1f} ms late at p99, max {max(r.lags):.1f} ms;"
            f" a poll took {percentile(r.poll_ms, 50):.1f} ms at p50, {percentile(r.poll_ms, 99):.1f} ms at"
            f" p99; plot {r.png.name})"
        )

    return [
        f"Load: two runs, each offered open-loop, the first {WARMUP_SECONDS} s of payments not counted:"
        f" {load(realistic)}; then {load(loaded)}. Each tick publishes one payment's PaymentReceived and the"
        f" PaymentProcessed of the payment received {LEAD_SECONDS} s earlier, with the runtime's producer"
        " (idempotent, acks=all, linger 2 ms). Each run has its own service process, schema and topics.",
        "System: reconciliation-service as its own process (bench/figures/_reconciliation_server.py: the"
        " service's app and serve(), its read-model consumer on a private topic, fresh schema and group),"
        " after a probe payment showed that its consumer reads. One staff client polls GET"
        f" /v1/unlinked-payments?status=ready&limit={PAGE} over HTTP every {POLL_INTERVAL * 1000:.0f} ms,"
        " one page per poll, from the keyset position just before the oldest payment it has not seen (a full"
        " page is followed by the next one on the next poll), and notes when each payment first appears."
        " Latency = that response's arrival - the moment the bench"
        " handed the PaymentProcessed to the producer; same process, same clock. The polling adds up to one"
        " poll period on top of the system's own latency.",
        "Baseline: the same schedule on another private topic; a bare AIOKafkaConsumer with the"
        " InboxConsumer's settings (fresh group, joined before the load) notes when each PaymentProcessed"
        " comes out of getmany: publish -> consume over the same broker, no database, no HTTP.",
    ]


FIGURE = Figure(number=2, name="end-to-end-latency", title="End-to-end latency: processed -> API", run=run)
