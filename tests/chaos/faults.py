"""The faults: SIGKILL a service and start it again, SIGKILL the Kafka broker (on a 3-broker cluster: the
leader of payment.events, then a second broker), stop PostgreSQL at once (`-m immediate`: a crash for every
backend), freeze processes, make PostgreSQL read-only. Overlapping with them, a second stream: network delay
and loss between the services and PostgreSQL or the processor (`network_delay`), one service's wall clock
jumping (`clock_skew`) and, with two processes of every service, one of them SIGKILLed (`replica_kill`).

While a dependency is down every service that needs it must say 503 on /readyz, and 200 once it is back; the
injector watches for both and records what it saw. link-service does not need Kafka to take payments (intake
writes to Postgres; the outbox waits): it stays 200."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from paylinks_devstack.stack import SERVICES

from .proxy import Impairment
from .report import ChaosReport
from .system import ChaosSystem, write_clock_offset

Fault = Callable[[], Awaitable[None]]
Process = asyncio.subprocess.Process
READINESS_TIMEOUT = 120.0
ALL_SERVICES = tuple(SERVICES)
# Ready only with Kafka: not link-service (its intake writes to Postgres, the outbox waits) nor the sandbox
# processor (it has no Kafka at all).
KAFKA_GATED = tuple(s for s in SERVICES if s not in ("link-service", "processor-sandbox"))
# A relay leader frozen longer than its lease (10 s) loses it; a shorter freeze is any stalled process.
RELAY_LEADER_PAUSE = (11.0, 13.0)
PROCESS_PAUSE = (2.0, 5.0)
READ_ONLY = (2.0, 5.0)
# The overlapping faults last long enough for others to happen meanwhile.
NETWORK_IMPAIRED = (4.0, 10.0)
CLOCK_SKEWED = (4.0, 10.0)
# Minutes either way, within the processor's webhook signature tolerance (300 s): a skew beyond it makes
# link-service refuse every settlement report, as it should.
CLOCK_JUMP = (60.0, 240.0)
# A killed replica stays down past the consumer session timeout (aiokafka: 10 s), so its partitions move
# to the survivor by a rebalance, not by its own return.
REPLICA_DOWN = (12.0, 18.0)
PAYMENT_EVENTS = "payment.events"


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
        # One fault at a time per service: a kill and a pause of the same process, or two restarts of one
        # service, would trip over each other (the overlap that matters is across services and infra).
        self._busy: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._started = time.monotonic()

    def _injected(self, fault: str, detail: str = "") -> None:
        self._report.add("faults", fault)
        self.mark(f"{fault} {detail}".rstrip())

    def mark(self, what: str) -> None:
        """A line on the timeline: a fault, its end, or a step of the run around them."""
        self._report.timeline.append(f"{self._clock():7.1f}  {what}")

    def _clock(self) -> float:
        """Seconds since the injector was made (at the start of the load): the fault timeline's clock."""
        return time.monotonic() - self._started

    def rounds(self, count: int) -> list[tuple[str, Fault]]:
        """Each round every fault once, in a random order."""
        kafka: tuple[str, Fault] = (
            ("kafka_leader_kill", self.kill_kafka_leaders)
            if self._system.infra.brokers > 1
            else ("SIGKILL kafka broker", self.kill_kafka)
        )
        faults: list[tuple[str, Fault]] = [
            *((f"SIGKILL {s}", lambda s=s: self.kill_service(s)) for s in SERVICES),
            kafka,
            ("restart postgres (immediate)", self.restart_postgres),
            ("relay_leader_pause", self.pause_relay_leader),
            ("process_pause", lambda: self.pause_service(self._rng.choice(KAFKA_GATED), PROCESS_PAUSE)),
            ("postgres_read_only", self.make_postgres_read_only),
        ]
        return self._shuffled_rounds(faults, count)

    def overlapping_rounds(self, count: int) -> list[tuple[str, Fault]]:
        """The second stream, run beside `rounds`: each round every overlapping fault once."""
        faults: list[tuple[str, Fault]] = [
            ("network_delay", self.impair_network),
            ("clock_skew", self.skew_clock),
        ]
        if self._system.replicas:
            faults.append(("replica_kill", self.kill_replica))
        return self._shuffled_rounds(faults, count)

    def watches_per_round(self) -> int:
        """Readiness watches a round of `rounds` makes: postgres down and back; kafka down (the gated
        services, the intake) and back, or only back on a cluster (a broker or two down is no outage of
        the cluster for /readyz)."""
        return 2 + (1 if self._system.infra.brokers > 1 else 3)

    def _shuffled_rounds(self, faults: list[tuple[str, Fault]], count: int) -> list[tuple[str, Fault]]:
        schedule = []
        for _ in range(count):
            schedule += self._rng.sample(faults, len(faults))
        return schedule

    async def run(self, schedule: list[tuple[str, Fault]], pause: tuple[float, float]) -> None:
        for name, fault in schedule:
            await asyncio.sleep(self._rng.uniform(*pause))  # a random moment of the load
            try:
                await fault()
            finally:
                self.mark(f"over: {name}")

    async def run_overlapping(self, count: int, pause: tuple[float, float]) -> None:
        """Both streams at once: the overlapping faults happen during the others."""
        await asyncio.gather(
            self.run(self.rounds(count), pause), self.run(self.overlapping_rounds(count), pause)
        )

    async def kill_service(self, service: str) -> None:
        async with self._alone(service):
            await self._kill_and_restart(service, "SIGKILL", (0.2, 2.0))

    async def _kill_and_restart(self, service: str, name: str, down: tuple[float, float]) -> None:
        stack = self._system.stack
        await stack.kill(service)
        self._injected(f"{name} {service}")
        await asyncio.sleep(self._rng.uniform(*down))  # down for a while: requests and events pile up
        await stack.start_service(service)
        await stack.wait_ready(service)

    @asynccontextmanager
    async def _alone(self, service: str) -> AsyncIterator[None]:
        async with self._busy[service]:
            yield

    @asynccontextmanager
    async def _every_service_running(self) -> AsyncIterator[None]:
        """For an infrastructure outage whose readiness watch needs an answer from every service: no service
        is mid-way through a fault of its own (the overlapping stream's replica kill). A service restarted
        into a Postgres outage cannot answer /readyz until Postgres is back, so the outage's watch waited for
        it with Postgres held down, and its restart's wait for readiness ran out meanwhile (a full chaos
        run, seed 472870). The locks are taken in one order, and no holder of one waits for another."""
        async with contextlib.AsyncExitStack() as held:
            for service in sorted(ALL_SERVICES):
                await held.enter_async_context(self._alone(service))
            yield

    async def pause_relay_leader(self) -> None:
        """link-service's process that holds the outbox relay lease (with replicas, either one), frozen past
        the lease."""
        async with self._alone("link-service"):
            process = await self._system.relay_leader("link-service")
            await self._pause(process, "link-service", RELAY_LEADER_PAUSE)

    async def pause_service(self, service: str, seconds: tuple[float, float]) -> None:
        async with self._alone(service):
            await self._pause(self._system.stack.processes[service], service, seconds)

    async def _pause(self, process: Process, service: str, seconds: tuple[float, float]) -> None:
        """SIGSTOP, then SIGCONT: a frozen process (GC pause, stopped VM). Its relay, frozen past the lease,
        must lose leadership and, awake, publish nothing before it holds the lease again."""
        name = "relay_leader_pause" if seconds == RELAY_LEADER_PAUSE else "process_pause"
        process.send_signal(signal.SIGSTOP)
        self._injected(f"{name} {service}")
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
        self._injected("postgres_read_only")
        try:
            await asyncio.sleep(self._rng.uniform(*READ_ONLY))
        finally:
            await infra.set_read_only(False)

    async def kill_kafka(self) -> None:
        async with self._every_service_running():
            infra = self._system.infra
            await infra.kill_kafka()
            self._injected("SIGKILL kafka broker")
            try:
                await self._watch("kafka down", 503, KAFKA_GATED)
                await self._watch("kafka down, payment intake still ready", 200, ("link-service",))
                await self._stay_down()
            finally:
                await infra.start_kafka()
            await self._watch("kafka back", 200)

    async def kill_kafka_leaders(self) -> None:
        """On a 3-broker cluster (replication factor 3, min.insync.replicas 2): SIGKILL the leader of
        payment.events (`kafka_leader_kill`): a new leader takes over, writes go on; a while later a second
        broker (`kafka_second_broker_kill`): with one replica left every write is refused (the outboxes
        wait), none is acknowledged by fewer replicas than promised. Both come back."""
        infra = self._system.infra
        leader = await infra.leader_of(PAYMENT_EVENTS)
        await infra.kill_broker(leader)
        self._injected("kafka_leader_kill")
        try:
            await asyncio.sleep(self._rng.uniform(2.0, 6.0))  # payments go on through the new leader
            second = self._rng.choice([n for n in infra.nodes if n != leader])
            await infra.kill_broker(second)
            self._injected("kafka_second_broker_kill")
            await self._stay_down()
        finally:
            await infra.start_kafka()
        await self._watch("kafka brokers back", 200)

    async def impair_network(self) -> None:
        """Delay with jitter and cut connections on one link (services to PostgreSQL, or link-service to the
        processor) for a while: queries and charges slow down, some die mid-way (a COMMIT whose answer never
        came, a charge whose answer was lost) and are retried."""
        name, proxy = self._rng.choice(sorted(self._system.links.impairable.items()))
        impairment = Impairment(
            delay=self._rng.uniform(0.02, 0.2),
            jitter=self._rng.uniform(0.0, 0.1),
            cut=self._rng.uniform(0.0, 0.05),
        )
        proxy.impair(impairment)
        self._injected(
            f"network_delay {name}",
            f"({impairment.delay:.3f} s + up to {impairment.jitter:.3f}, {impairment.cut:.1%} cut)",
        )
        try:
            await asyncio.sleep(self._rng.uniform(*NETWORK_IMPAIRED))
        finally:
            proxy.heal()

    async def skew_clock(self) -> None:
        """One service's wall clock jumps minutes ahead or behind, stays there a while, and jumps back."""
        service = self._rng.choice(ALL_SERVICES)
        jump = self._rng.choice((-1, 1)) * self._rng.uniform(*CLOCK_JUMP)
        clock = self._system.clock_file(service)
        write_clock_offset(clock, jump)
        self._injected(f"clock_skew {service}", f"({jump:+.0f} s)")
        try:
            await asyncio.sleep(self._rng.uniform(*CLOCK_SKEWED))
        finally:
            write_clock_offset(clock, 0)

    async def kill_replica(self) -> None:
        """One of a service's two processes SIGKILLed under load, down past a rebalance: payments go on
        through the survivor (the link-service front passes over the dead one), the consumer group hands
        the dead member's partitions to the survivor, the survivor's relay takes the outbox lease."""
        service = self._rng.choice(sorted(self._system.replicas))
        async with self._alone(service):
            if self._rng.random() < 0.5:
                await self._kill_and_restart(service, "replica_kill", REPLICA_DOWN)
                return
            await self._system.kill_replica(service)
            self._injected(f"replica_kill {service}")
            await asyncio.sleep(self._rng.uniform(*REPLICA_DOWN))
            await self._system.start_replica(service)

    async def restart_postgres(self) -> None:
        async with self._every_service_running():
            infra = self._system.infra
            await infra.stop_postgres_immediately()
            self._injected("restart postgres (immediate)")
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
