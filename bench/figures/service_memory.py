"""Figure 7. Memory: resident set size of each service process, idle and at its peak under load.

System: the four services as devstack runs them (each its console script, a process of its own, with the
SMTP sink), on the real Postgres and Kafka. RSS is the kernel's: VmRSS from /proc/<pid>/status, and the
peak under load its VmHWM, reset (/proc/<pid>/clear_refs) when the load starts. Baseline: for each service,
a Python interpreter that imports the same code (its console script's module) and does nothing else; and a
bare `python -c` interpreter. All in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.context import BenchContext
from bench.figures import pay_load
from bench.figures.pay_load import PayLink, closed_loop
from bench.model import Figure, FigureResult, Goal, Measurement
from bench.workload import SOURCE, payment_processed, payment_received
from paylinks_devstack.client import PaylinksClient
from paylinks_devstack.stack import EXECUTABLES, SERVICES, Stack
from paylinks_events import Envelope, Topic, to_record
from paylinks_runtime.kafka import make_producer

FIRM_ID = "bench-memory-firm"
LINKS = 16
PAY_CLIENTS = 8  # pay requests while the events are consumed
IDLE_SECONDS = 5.0
SAMPLE_SECONDS = 0.2
DRAIN_TIMEOUT = 300.0
KIB_PER_MIB = 1024
BARE = "python -c (bare interpreter)"
# Proposed goals: a running service holds at most half again what its code takes loaded, and stays
# under 256 MiB at its peak.
IDLE_GOAL, PEAK_GOAL = Goal("<=", 1.5, "ratio"), Goal("<", 256)


# --- reading /proc ---------------------------------------------------------------------------------------


def status_mib(pid: int, name: str) -> float:
    """A field of /proc/<pid>/status (VmRSS, VmHWM: in kB) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / KIB_PER_MIB
    raise RuntimeError(f"no {name} for process {pid}")


def reset_peak(pid: int) -> None:
    """Restart the kernel's RSS high-water mark (VmHWM) from the current RSS (proc(5): clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Sampler:
    """VmRSS of some processes every SAMPLE_SECONDS while running: the curve, and a check on VmHWM."""

    pids: dict[str, int]
    samples: dict[str, list[float]] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            for name, pid in self.pids.items():
                self.samples.setdefault(name, []).append(status_mib(pid, "VmRSS"))
            await asyncio.sleep(SAMPLE_SECONDS)


@contextlib.asynccontextmanager
async def sampling(pids: dict[str, int]) -> AsyncIterator[Sampler]:
    sampler = Sampler(pids)
    task = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- baseline: interpreters that only import ---------------------------------------------------------------


def service_module(service: str) -> str:
    """The module of a service's console script (e.g. link_service.app)."""
    (script,) = entry_points(group="console_scripts", name=EXECUTABLES.get(service, service))
    return script.module


async def idle_interpreter_mib(imports: str = "") -> float:
    """VmRSS of `python -c` that imports `imports` (nothing when empty), then waits on stdin."""
    code = f"import {imports}\n" if imports else ""
    code += "print('ready', flush=True)\nimport sys\nsys.stdin.read()"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        if await process.stdout.readline() != b"ready\n":
            raise RuntimeError(f"python -c 'import {imports}' did not start")
        await asyncio.sleep(1.0)
        return status_mib(process.pid, "VmRSS")
    finally:
        process.stdin.close()
        await process.wait()


async def baselines() -> dict[str, float]:
    found = {BARE: await idle_interpreter_mib()}
    for service in SERVICES:
        found[service] = await idle_interpreter_mib(service_module(service))
    return found


# --- load: payment events to consume, and pay requests ---------------------------------------------------


async def set_up(client: PaylinksClient) -> list[PayLink]:
    """Bank accounts and links to pay into, and a recipient for the firm's payment emails."""
    links = await pay_load.pay_links(client, LINKS)
    body = {"emails": ["staff@bench.example"]}
    await client.call("PUT", "notifier", "/v1/notification-recipients", expect=200, json=body)
    return links


async def publish_pairs(ctx: BenchContext, links: list[PayLink], pairs: int) -> None:
    """`pairs` payments into the firm's accounts on payment.events: PaymentReceived, then PaymentProcessed
    (on the same partition: keyed by payment id), as link-service publishes them."""
    producer = make_producer(ctx.bootstrap_servers, "bench-memory")
    await producer.start()
    try:
        pending = []
        for _ in range(pairs):
            received = payment_received(firm_id=FIRM_ID, bank_account_id=random.choice(links).bank_account_id)
            for event in (received, payment_processed(received)):
                record = to_record(Envelope(event=event, source=SOURCE))
                pending.append(await producer.send(record.topic, value=record.value, key=record.key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def paying_while(stack: Stack, links: list[PayLink], done: asyncio.Event) -> int:
    """Card payments from PAY_CLIENTS clients until `done`; returns how many were accepted."""
    url = stack.config.url("link-service")
    cards = await pay_load.CardTokens.for_link(url, links[0].token)  # tokenized as on the pay page
    make = pay_load.card_payment([link.token for link in links], cards)
    accepted = 0
    while not done.is_set():
        result = await closed_loop(url, PAY_CLIENTS, 1.0, make, 202)
        accepted += result.statuses[202]
    return accepted


async def caught_up(ctx: BenchContext, group_prefix: str) -> bool:
    """Every consumer group of the stack has committed every partition of payment.events it reads, up to
    its end (others' records included: the shared topic is what the services consume)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=ctx.bootstrap_servers, client_id="bench-memory")
    consumer = AIOKafkaConsumer(bootstrap_servers=ctx.bootstrap_servers, client_id="bench-memory")
    await admin.start()
    await consumer.start()
    try:
        groups = [g for g, _ in await admin.list_consumer_groups() if g.startswith(group_prefix)]
        offsets = [await admin.list_consumer_group_offsets(g) for g in groups]
        reading = [{tp: m.offset for tp, m in o.items() if tp.topic == Topic.PAYMENT} for o in offsets]
        reading = [r for r in reading if r]
        partitions = {tp for r in reading for tp in r}
        ends = await consumer.end_offsets(list(partitions))
        return bool(reading) and all(
            r.keys() == partitions and all(ends[tp] == r[tp] for tp in r) for r in reading
        )
    finally:
        await consumer.stop()
        await admin.close()


async def mailed(stack: Stack, emails: int) -> None:
    """Until the SMTP sink has `emails` messages."""
    async with asyncio.timeout(DRAIN_TIMEOUT):
        while len(list(stack.config.maildir.iterdir())) < emails:
            await asyncio.sleep(0.5)


async def drained(ctx: BenchContext, stack: Stack) -> None:
    """Until every consumer has caught up. Only once the pay load has stopped: while it runs, the topic's
    end moves on and a consumer is always a few records behind it."""
    prefix = stack.config.env["CONSUMER_GROUP_PREFIX"]
    async with asyncio.timeout(DRAIN_TIMEOUT):
        while not await caught_up(ctx, prefix):
            await asyncio.sleep(0.5)


@dataclass(frozen=True)
class LoadRun:
    peak_mib: dict[str, float]
    after_mib: dict[str, float]
    samples: dict[str, list[float]]
    seconds: float
    payments: int


async def under_load(ctx: BenchContext, stack: Stack, links: list[PayLink], pairs: int) -> LoadRun:
    pids = {service: stack.processes[service].pid for service in SERVICES}
    emails_before = len(list(stack.config.maildir.iterdir()))
    for pid in pids.values():
        reset_peak(pid)
    began, done = time.perf_counter(), asyncio.Event()
    async with sampling(pids) as sampler:
        paying = asyncio.create_task(paying_while(stack, links, done))
        await publish_pairs(ctx, links, pairs)
        await mailed(stack, emails_before + 2 * pairs)
        done.set()
        payments = await paying
        await drained(ctx, stack)
    peaks = {s: max(status_mib(pid, "VmHWM"), *sampler.samples[s]) for s, pid in pids.items()}
    after = {s: status_mib(pid, "VmRSS") for s, pid in pids.items()}
    return LoadRun(peaks, after, sampler.samples, time.perf_counter() - began, payments)


# --- the figure -------------------------------------------------------------------------------------------


async def run(ctx: BenchContext) -> FigureResult:
    pairs = ctx.size(2_000, 300)
    with ctx.step("baseline interpreters"):
        base = await baselines()
    async with pay_load.running_stack(ctx) as stack:
        await asyncio.sleep(IDLE_SECONDS)
        idle = {s: status_mib(stack.processes[s].pid, "VmRSS") for s in SERVICES}
        async with pay_load.staff(stack, FIRM_ID) as client:
            links = await set_up(client)
        with ctx.step(f"{pairs:,} payment pairs and pay requests"):
            load = await under_load(ctx, stack, links, pairs)
    rows = [Measurement(f"{BARE}: idle RSS", base[BARE], "MiB")]
    for service in SERVICES:
        rows += [
            Measurement(f"{service}: idle RSS", idle[service], "MiB", base[service], (IDLE_GOAL,)),
            Measurement(
                f"{service}: peak RSS under load", load.peak_mib[service], "MiB", base[service], (PEAK_GOAL,)
            ),
        ]
    return FigureResult(
        baseline="python -c 'import <the service's module>' (its code loaded, nothing running), same run",
        rows=rows,
        notes=notes(pairs, load, base),
        data={
            "idle_mib": idle,
            "baseline_mib": base,
            "peak_mib": load.peak_mib,
            "after_load_mib": load.after_mib,
            "rss_samples_mib": load.samples,
        },
    )


def notes(pairs: int, load: LoadRun, base: dict[str, float]) -> list[str]:
    after = ", ".join(f"{s} {mib:.0f}" for s, mib in load.after_mib.items())
    modules = ", ".join(f"{s}: {service_module(s)}" for s in SERVICES)
    return [
        "Processes: the four services started by paylinks_devstack's Stack (each its console script, own"
        " schema, consumer groups starting at the end of the topics, free ports) with its SMTP sink.",
        f"Idle: VmRSS {IDLE_SECONDS:.0f} s after every service answered /readyz, before any request.",
        f"Load: {pairs:,} payments published to payment.events for one firm ({LINKS} bank accounts registered"
        " through link-service, a recipient set in the notifier): a PaymentReceived and its PaymentProcessed"
        f" each, as link-service publishes them; meanwhile {PAY_CLIENTS} clients pay by card through"
        f" link-service ({load.payments:,} payments accepted, each settled by webhook 2 s later). The load"
        f" ends when every consumer group has committed payment.events to its end and the SMTP sink holds"
        f" the {2 * pairs:,} emails of the published payments: {load.seconds:.0f} s.",
        "Peak: VmHWM, reset with /proc/<pid>/clear_refs when the load started (and never below the VmRSS"
        f" sampled every {SAMPLE_SECONDS} s). RSS once the load was over (MiB): {after}.",
        f"Baseline: `python -c 'import <module>'` of each service's console script ({modules}), VmRSS 1 s"
        f" after the import; a bare interpreter: {base[BARE]:.1f} MiB.",
    ]


FIGURE = Figure(number=7, name="service-memory", title="Memory of the service processes", run=run)
