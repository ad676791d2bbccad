"""Figure 6. The client's pay endpoints under 64 concurrent clients: requests/s, latency, server CPU.

System: link-service as it runs in production, a process of its own (its console script: uvicorn on a real
port, its pool, relay and consumer), beside the sandbox processor (its own process, which charges and settles
by signed webhooks), on the real Postgres and Kafka, serving
`GET /v1/pay/{token}` (the link's view: one indexed lookup by token hash) and `POST /v1/pay/{token}/payments`
(a card payment with a token the bench got from the sandbox first, as the pay page's browser does: the
attempt recorded, the processor called, the payment's events and outbox rows recorded).
Baseline: `GET /healthz` of the same process at the same concurrency, the ceiling of the service's HTTP
stack with no work behind it; and that /healthz beside the framework alone (FastAPI on uvicorn, nothing of
ours). The POST's CPU also beside its floor (bench/pay_floor.py): the same work on the bare stack, traced and
its event published as the services do, at the rate link-service ran in the same run.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from bench import pay_floor
from bench.context import BenchContext
from bench.figures import pay_load
from bench.figures.pay_load import BenchStack, CardTokens, LoadResult, Request, closed_loop
from bench.measure import Latencies, rotating_rounds
from bench.model import Figure, FigureResult, Goal, Measurement

CLIENTS = 64
LINKS = 256  # bank-account links paid into, one picked at random per request
FIRM_ID = "bench-pay-firm"
SERVICE = "link-service"
HEALTHZ, SHOW, PAY = "GET /healthz", "GET /v1/pay/{token}", "POST /v1/pay/{token}/payments"
AS_IS, BARE = "as is", "bare FastAPI"
COMMANDS = {
    AS_IS: None,  # link-service's console script
    BARE: [sys.executable, "-m", "bench.figures.bare_app"],
}
# Proposed goals: a link's view costs at most the HTTP stack's own work again, a payment (a transaction with
# its events and outbox rows) at most three times more; our HTTP layer at most doubles the framework's CPU.
RATE_GOALS = {SHOW: Goal(">=", 0.5, "ratio"), PAY: Goal(">=", 0.25, "ratio")}
HTTP_LAYER_GOAL = Goal("<=", 2, "ratio")
POST_CPU_GOAL = Goal("<=", 1.5)  # ms of link-service CPU per payment POST (issue #21 goal 3)
FLOOR_LAYERS = {pay_floor.TRACED, pay_floor.PUBLISHED}  # what every payment needs beside the bare work
# Card tokens made ahead per second of a payment run: above the rate it reaches here (one is made on the
# spot when they run out, and counted in the notes).
CARD_TOKENS_PER_SECOND = 200


@dataclass(frozen=True)
class Run:
    """One closed-loop run against one server, with the server's CPU time per request."""

    load: LoadResult
    cpu_ms_per_request: float


@dataclass(frozen=True)
class Server:
    stack: BenchStack
    tokens: list[str]
    cards: CardTokens | None  # None: the bare framework, which takes no payment

    def endpoints(self) -> dict[str, tuple[Callable[[], Request | Awaitable[Request]], int]]:
        """Each endpoint's request factory and the status it answers when all is well."""
        if self.cards is None:  # the bare framework: only /healthz
            return {HEALTHZ: (pay_load.healthz, 200)}
        return {
            HEALTHZ: (pay_load.healthz, 200),
            SHOW: (pay_load.show_link(self.tokens), 200),
            PAY: (pay_load.card_payment(self.tokens, self.cards), 202),
        }

    async def run(self, endpoint: str, seconds: float, warmup: float) -> Run:
        make, ok = self.endpoints()[endpoint]
        url, pid = self.stack.config.url(SERVICE), self.stack.pid(SERVICE)
        if endpoint == PAY and self.cards is not None:
            await self.cards.fill(CARD_TOKENS_PER_SECOND * int(seconds + warmup))
        await closed_loop(url, CLIENTS, warmup, make, ok)
        cpu_before = pay_load.cpu_seconds(pid)
        load = await closed_loop(url, CLIENTS, seconds, make, ok)
        cpu = pay_load.cpu_seconds(pid) - cpu_before
        return Run(load, cpu * 1000 / max(len(load.latencies_ms), 1))


@asynccontextmanager
async def servers(ctx: BenchContext, links: int) -> AsyncIterator[dict[str, Server]]:
    """The two servers, each a process on its own port; link-service with `links` pay links."""
    async with AsyncExitStack() as stacks:
        started = {}
        for name, command in COMMANDS.items():
            commands = {SERVICE: command} if command else None
            services = [SERVICE] if name == BARE else pay_load.PAY_SERVICES
            stack = await stacks.enter_async_context(pay_load.running_stack(ctx, services, commands))
            if name == BARE:
                started[name] = Server(stack, [], None)
                continue
            tokens = await tokens_of(stack, links)
            cards = await CardTokens.for_link(stack.config.url(SERVICE), tokens[0])
            started[name] = Server(stack, tokens, cards)
        yield started


async def tokens_of(stack: BenchStack, links: int) -> list[str]:
    async with pay_load.staff(stack, FIRM_ID) as client:
        return [link.token for link in await pay_load.pay_links(client, links)]


async def measure(
    servers: dict[str, Server], seconds: float, warmup: float, count: int
) -> dict[tuple[str, str], list[Run]]:
    """Every (server, endpoint) over `count` rounds: each once a round, in a rotating order."""
    results: dict[tuple[str, str], list[Run]] = {}

    def once(server: str, endpoint: str) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            got = await servers[server].run(endpoint, seconds, warmup)
            results.setdefault((server, endpoint), []).append(got)
            return got.load.rate

        return run

    runs = {f"{s} {e}": once(s, e) for s, server in servers.items() for e in server.endpoints()}
    await rotating_rounds(runs, count)
    return results


# --- rows --------------------------------------------------------------------------------------------------


def rate(runs: list[Run]) -> float:
    return statistics.median(r.load.rate for r in runs)


def cpu(runs: list[Run]) -> float:
    return statistics.median(r.cpu_ms_per_request for r in runs)


def latencies(runs: list[Run]) -> Latencies:
    return Latencies([ms for r in runs for ms in r.load.latencies_ms])


def endpoint_rows(label: str, got: list[Run], base: list[Run], goal: Goal) -> list[Measurement]:
    at = f"{CLIENTS} clients"
    return [
        Measurement(f"{label} requests/s, {at}", rate(got), "req/s", rate(base), (goal,)),
        Measurement(f"{label} p99, {at}", latencies(got).p(99), "ms", latencies(base).p(99)),
        Measurement(f"{label} server CPU/request", cpu(got), "ms", cpu(base)),
    ]


def rows_of(server: str, results: dict[tuple[str, str], list[Run]]) -> list[Measurement]:
    prefix = "" if server == AS_IS else f"{server}: "
    healthz, bare = results[(server, HEALTHZ)], results[(BARE, HEALTHZ)]
    vs_bare = f"[vs {BARE}]"
    rows = [
        Measurement(f"{prefix}{HEALTHZ} requests/s {vs_bare}", rate(healthz), "req/s", rate(bare)),
        Measurement(
            f"{prefix}{HEALTHZ} server CPU/request {vs_bare}",
            cpu(healthz),
            "ms",
            cpu(bare),
            (HTTP_LAYER_GOAL,),
        ),
    ]
    for endpoint in (SHOW, PAY):
        rows += endpoint_rows(
            f"{prefix}{endpoint}", results[(server, endpoint)], healthz, RATE_GOALS[endpoint]
        )
    return rows


def unexpected_answers(results: dict[tuple[str, str], list[Run]]) -> list[str]:
    """A note per endpoint that answered anything but its success status; an error if it never succeeded."""
    notes = []
    for (server, endpoint), runs in results.items():
        statuses = sum((r.load.statuses for r in runs), start=Counter[int]())
        unexpected = sum(r.load.unexpected for r in runs)
        if unexpected == sum(statuses.values()):
            raise RuntimeError(f"{server} {endpoint} never succeeded: {dict(statuses)}")
        if unexpected:
            notes.append(f"{server} {endpoint}: {unexpected:,} unexpected answers ({dict(statuses)}).")
    return notes


def floor_row(pays: list[Run], floor: pay_floor.Floor) -> Measurement:
    return Measurement(
        f"{PAY} server CPU/request [vs its floor]",
        cpu(pays),
        "ms",
        statistics.median(floor.cpu_ms_per_request),
        (POST_CPU_GOAL,),
    )


async def run(ctx: BenchContext) -> FigureResult:
    seconds, warmup, count = ctx.size(10, 3), ctx.size(2, 1), ctx.size(3, 1)
    links = ctx.size(LINKS, 32)
    async with servers(ctx, links) as running:
        with ctx.step(f"{count} round(s) of {seconds} s per server and endpoint"):
            results = await measure(running, seconds, warmup, count)
        cards = running[AS_IS].cards
        on_the_spot = cards.made_on_the_spot if cards else 0
    service_rate = rate(results[(AS_IS, PAY)])  # the floor is held to it
    with ctx.step(f"the POST's floor, {count} round(s) of {seconds} s"):
        floor = await pay_floor.measure(
            ctx, FLOOR_LAYERS, seconds, count, pay_floor.Load.held_to(service_rate, CLIENTS)
        )
    return FigureResult(
        baseline=f"{HEALTHZ} of the same process, same {CLIENTS} clients ([vs {BARE}]: the framework alone)",
        rows=[*rows_of(AS_IS, results), floor_row(results[(AS_IS, PAY)], floor)],
        notes=[
            *notes(seconds, warmup, count, links),
            floor_note(service_rate, floor),
            *unexpected_answers(results),
            f"Card tokens made on the spot (the stock ran out): {on_the_spot:,}.",
        ],
        data={
            **{
                f"{server} {endpoint}": {
                    "requests_per_s": [r.load.rate for r in runs],
                    "server_cpu_ms_per_request": [r.cpu_ms_per_request for r in runs],
                    "latency_ms": latencies(runs).summary(),
                }
                for (server, endpoint), runs in results.items()
            },
            "floor": {
                "answer_after_s": floor.answer_after,
                "requests_per_s": floor.requests_per_s,
                "server_cpu_ms_per_request": floor.cpu_ms_per_request,
            },
        },
    )


def floor_note(service_rate: float, floor: pay_floor.Floor) -> str:
    return (
        "[vs its floor]: bench/pay_floor.py in the same run, after the servers stopped: "
        f"{pay_floor.POST_WORK}, the outbox published to Kafka by a bare relay in the same process, with the"
        " services' tracing (a server span per request,"
        " a producer span per record); the stand-in answers each charge after"
        f" {floor.answer_after * 1000:.0f} ms, set after a warm-up so that the floor runs at link-service's"
        " POST rate (per request, the loop's wake-ups and each relay batch cost more at a lower rate): it ran"
        f" at {statistics.median(floor.requests_per_s):,.0f} req/s against {service_rate:,.0f}. Its rows are"
        " the work every payment needs on this stack; the goal of 1.5 ms is met only if the service's CPU is."
    )


def notes(seconds: int, warmup: int, count: int, links: int) -> list[str]:
    limits = ", ".join(f"{k}={v}" for k, v in pay_load.RATE_LIMITS.items())
    return [
        f"Load: {CLIENTS} clients, each on its own keep-alive connection sending its next request when the"
        f" last was answered (closed loop), for {seconds} s after a {warmup} s warm-up; every server and"
        f" endpoint once a round, {count} round(s) in a rotating order; requests/s and server CPU/request"
        " (the server process's user+system time over the requests it answered) are medians of the rounds,"
        " percentiles over every request of every round. On this shared machine the CPU per request is the"
        " steadier figure: requests/s also moves with what else takes the 2 cores.",
        "Server: link-service's own console script (one uvicorn process on uvloop and httptools, as it runs,"
        " JSON logs at the default level, tracing set up without an exporter), on a free port, with its own"
        " schema and consumer groups; its consumers start at the end of the topics (CONSUMER_START=latest).",
        f"Rate limits lifted for the bench through link-service's settings (environment: {limits}): all"
        " the bench's clients share one address, which the per-client limit (120/min by default) would"
        f" stop at once, and {links} links take more attempts each than the per-link limit (10/min)"
        " allows. The limiter itself still runs on every request.",
        f"Requests: the token of one of {links} bank-account links at random each time. Payments: the"
        " sandbox card 4242424242424242 tokenized at the sandbox processor beforehand (as the pay page's"
        f" browser does; up to {CARD_TOKENS_PER_SECOND} tokens per second of a run made before it, so the"
        " clients spend their time on link-service), an amount of 1.00-5,000.00, a fresh Idempotency-Key"
        " each; the sandbox (its own process) settles each one 2 s later through a signed webhook to"
        " link-service, so the payment runs also carry those webhooks that arrive within the run (their CPU"
        " is in the payment's CPU/request; figure 8 waits for every one).",
        f"{BARE}: bench/figures/bare_app.py, FastAPI with a constant /healthz on the same uvicorn, the"
        " framework's ceiling on this machine.",
        "Client: a minimal HTTP/1.1 client on asyncio streams in the bench process (httpx would spend more"
        " CPU than the server); it shares the machine's 2 cores with the servers, Postgres and Kafka.",
    ]


FIGURE = Figure(number=6, name="pay-endpoint", title="Pay endpoints under 64 concurrent clients", run=run)
