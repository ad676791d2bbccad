"""The faults: SIGKILL a service and start it again, SIGKILL the Kafka broker, stop PostgreSQL at once
(`-m immediate`: a crash for every backend). While a dependency is down every service that needs it must say
503 on /readyz, and 200 once it is back; the injector watches for both and records what it saw. link-service
does not need Kafka to take payments (intake writes to Postgres; the outbox waits): it stays 200."""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from paylinks_devstack.stack import SERVICES

from .report import ChaosReport
from .system import ChaosSystem

Fault = Callable[[], Awaitable[None]]
READINESS_TIMEOUT = 120.0
ALL_SERVICES = tuple(SERVICES)
# Ready only with Kafka: not link-service (its intake writes to Postgres, the outbox waits) nor the sandbox
# processor (it has no Kafka at all).
KAFKA_GATED = tuple(s for s in SERVICES if s not in ("link-service", "processor-sandbox"))
# A relay leader frozen longer than its lease (10 s) loses it; a shorter freeze is any stalled process.
RELAY_LEADER_PAUSE = (11.0, 13.0)
PROCESS_PAUSE = (2.0, 5.0)
READ_ONLY = (2.0, 5.0)


@dataclass
class ReadinessWatch:
    """Which services answered /readyz with the expected status, and how long it took them."""

    what: str
    status: int
    services: tuple[str, ...] = ALL_SERVICES
    seen: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return set(self.seen) == set(self.services)

    def line(self) -> str:
        missing = sorted(set(self.services) - set(self.seen))
        slowest = max(self.seen.values(), default=0.0)
        verdict = f"all {len(self.services)}" if not missing else f"NOT {', '.join(missing)}"
        return f"{self.what}: {self.status} from {verdict} (within {slowest:.1f} s)"


class FaultInjector:
    def __init__(self, system: ChaosSystem, report: ChaosReport, rng: random.Random) -> None:
        self._system = system
        self._report = report
        self._rng = rng
        self.watches: list[ReadinessWatch] = []

    def rounds(self, count: int) -> list[tuple[str, Fault]]:
        """Each round every fault once, in a random order."""
        faults: list[tuple[str, Fault]] = [
            *((f"SIGKILL {s}", lambda s=s: self.kill_service(s)) for s in SERVICES),
            ("SIGKILL kafka broker", self.kill_kafka),
            ("restart postgres (immediate)", self.restart_postgres),
            ("relay_leader_pause", lambda: self.pause_service("link-service", RELAY_LEADER_PAUSE)),
            ("process_pause", lambda: self.pause_service(self._rng.choice(KAFKA_GATED), PROCESS_PAUSE)),
            ("postgres_read_only", self.make_postgres_read_only),
        ]
        schedule = []
        for _ in range(count):
            schedule += self._rng.sample(faults, len(faults))
        return schedule

    async def run(self, schedule: list[tuple[str, Fault]], pause: tuple[float, float]) -> None:
        for _, fault in schedule:
            await asyncio.sleep(self._rng.uniform(*pause))  # a random moment of the load
            await fault()

    async def kill_service(self, service: str) -> None:
        stack = self._system.stack
        await stack.kill(service)
        self._report.add("faults", f"SIGKILL {service}")
        await asyncio.sleep(self._rng.uniform(0.2, 2.0))  # down for a while: requests and events pile up
        await stack.start_service(service)
        await stack.wait_ready(service)

    async def pause_service(self, service: str, seconds: tuple[float, float]) -> None:
        """SIGSTOP, then SIGCONT: a frozen process (GC pause, stopped VM). Its relay, frozen past the lease,
        must lose leadership and, awake, publish nothing before it holds the lease again."""
        process = self._system.stack.processes[service]
        name = "relay_leader_pause" if seconds == RELAY_LEADER_PAUSE else "process_pause"
        process.send_signal(signal.SIGSTOP)
        self._report.add("faults", f"{name} {service}")
        try:
            await asyncio.sleep(self._rng.uniform(*seconds))
        finally:
            process.send_signal(signal.SIGCONT)
        await self._system.stack.wait_ready(service)

    async def make_postgres_read_only(self) -> None:
        """What a client meets in a failover: every write refused as read-only, for a few seconds. The API
        answers 503, the consumers wait and retry; nothing is dead-lettered."""
        infra = self._system.infra
        await infra.set_read_only(True)
        self._report.add("faults", "postgres_read_only")
        try:
            await asyncio.sleep(self._rng.uniform(*READ_ONLY))
        finally:
            await infra.set_read_only(False)

    async def kill_kafka(self) -> None:
        infra = self._system.infra
        await infra.kill_kafka()
        self._report.add("faults", "SIGKILL kafka broker")
        try:
            await self._watch("kafka down", 503, KAFKA_GATED)
            await self._watch("kafka down, payment intake still ready", 200, ("link-service",))
            await self._stay_down()
        finally:
            await infra.start_kafka()
        await self._watch("kafka back", 200)

    async def restart_postgres(self) -> None:
        infra = self._system.infra
        await infra.stop_postgres_immediately()
        self._report.add("faults", "restart postgres (immediate)")
        try:
            await self._watch("postgres down", 503)
            await self._stay_down()
        finally:
            await infra.start_postgres()
        await self._watch("postgres back", 200)

    async def _stay_down(self) -> None:
        """A while longer: payments keep coming, outboxes and retries pile up."""
        await asyncio.sleep(self._rng.uniform(0.5, 4.0))

    async def _watch(self, what: str, status: int, services: tuple[str, ...] = ALL_SERVICES) -> None:
        watch = ReadinessWatch(what, status, services)
        self.watches.append(watch)
        async with httpx.AsyncClient(timeout=5.0) as http:
            await asyncio.gather(*(self._until(http, s, watch) for s in services))
        self._report.readiness.append(watch.line())
        self._report.add("checked", "readiness probes answered as expected", len(watch.seen))

    async def _until(self, http: httpx.AsyncClient, service: str, watch: ReadinessWatch) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < READINESS_TIMEOUT:
            try:
                if (await http.get(f"{self._system.url(service)}/readyz")).status_code == watch.status:
                    watch.seen[service] = loop.time() - started
                    return
            except httpx.TransportError:
                pass  # not answering at all is neither 503 nor 200
            await asyncio.sleep(0.2)
