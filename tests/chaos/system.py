"""The system under test: the four services, the sandbox processor and the SMTP sink as processes
(paylinks_devstack) on the suite's own Kafka and Postgres, with what the checks need to know about it
(consumer groups, schemas)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import httpx

from billing_service.reactions import REACTIONS as BILLING_REACTIONS
from link_service.reactions import REACTIONS as LINK_REACTIONS
from notifier.reactions import REACTIONS as NOTIFIER_REACTIONS
from paylinks_devstack.client import PaylinksClient
from paylinks_devstack.stack import EXECUTABLES, SERVICES, Stack, StackConfig, executable, free_port
from paylinks_runtime.testing import JWT_SECRET, eventually
from reconciliation_service.projection import PLANNERS as RECONCILIATION_PLANNERS

from .infra import LocalInfra
from .proxy import ProxyProcess

# Which consumer group reads which topics (the ConsumerSpecs of the four services; group = prefix + name).
# What each service's consumer reads: its reaction registry says so (one place per service).
CONSUMED: dict[str, tuple[str, ...]] = {
    "link-service": LINK_REACTIONS.topics,
    "billing-service": BILLING_REACTIONS.topics,
    "reconciliation-service": RECONCILIATION_PLANNERS.topics,
    "notifier": NOTIFIER_REACTIONS.topics,
}


MUTATIONS = Path(__file__).parent / "mutations"
CLOCK = Path(__file__).parent / "clock"
# mutations/sitecustomize.py loads the clock_skew hook (clock/chaos_clock.py): both on every service's path.
SERVICE_PYTHONPATH = f"{MUTATIONS}{os.pathsep}{CLOCK}"
# The services that run twice when the system has replicas (the sandbox stands in for the outside processor).
REPLICATED = ("link-service", "billing-service", "reconciliation-service", "notifier")


def crash_after_charge_env() -> dict[str, str]:
    """A link-service process that dies right after the processor answers a charge (mutations/)."""
    return {"CHAOS_CRASH_AFTER_CHARGE": "1", "PYTHONPATH": SERVICE_PYTHONPATH}


def service_env(infra: LocalInfra) -> dict[str, str]:
    """Fast settlement and email timings, and pay-endpoint rate limits out of the load's way."""
    return mutation_env() | {
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap,
        # Topics on every broker of a replicated cluster (kafka.sh: min.insync.replicas 2 there).
        "KAFKA_REPLICATION_FACTOR": str(min(3, infra.brokers)),
        "DATABASE_URL": infra.database_url,
        "PYTHONPATH": SERVICE_PYTHONPATH,
        "SANDBOX_CARD_SETTLE_SECONDS": "0.2",
        "SANDBOX_ECHECK_SETTLE_SECONDS": "0.3",
        # After the settlement, as a real processor's would be (its defaults: 3 s and 5 s).
        "SANDBOX_DISPUTE_SECONDS": "1",
        "SANDBOX_RETURN_SECONDS": "1",
        "SANDBOX_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "SANDBOX_WEBHOOK_RETRY_MAX_SECONDS": "2",
        # A charge left unrecorded by a crash is sent again (same key) this soon by link-service's recovery.
        "PAYMENT_RECOVERY_AFTER_SECONDS": "2",
        "PAYMENT_RECOVERY_INTERVAL_SECONDS": "0.5",
        "PAY_ATTEMPTS_PER_LINK_AND_CLIENT": "1000000",
        "PAY_ATTEMPTS_PER_LINK": "1000000",
        "PAY_REQUESTS_PER_CLIENT": "1000000",
        # An email re-sent after a crash (same Message-ID) must come within the convergence deadline.
        "EMAIL_LEASE_SECONDS": "15",
        "EMAIL_RETRY_MAX_SECONDS": "5",
        "EMAIL_CONTEXT_WAIT_SECONDS": "5",
        "OTEL_TRACES_EXPORTER": "none",
        "LOG_LEVEL": "INFO",
    }


def mutation_env() -> dict[str, str]:
    """CHAOS_MUTATE=<protection>: the services run without it (mutations/sitecustomize.py)."""
    mutation = os.environ.get("CHAOS_MUTATE")
    return {"CHAOS_MUTATE": mutation} if mutation else {}


def write_clock_offset(clock_file: Path, seconds: float) -> None:
    """Set a service's wall-clock skew (tests/chaos/clock/chaos_clock.py reads it a few times a second). The
    file is replaced whole by a rename: written in place, the hook could read it empty, half-way through."""
    part = clock_file.with_name(f"{clock_file.name}.part")
    part.write_text(f"{seconds:.1f}\n")
    part.replace(clock_file)


@dataclass
class NetworkLinks:
    """The connections the network_delay fault impairs: every service to PostgreSQL, link-service to the
    payment processor; and the front of link-service (its processes, balanced) that payers and webhooks
    use. The checker reads the database directly, never through these."""

    postgres: ProxyProcess
    processor: ProxyProcess
    front: ProxyProcess

    @property
    def impairable(self) -> dict[str, ProxyProcess]:
        return {"postgres": self.postgres, "processor": self.processor}

    async def start(self) -> None:
        for proxy in (self.postgres, self.processor, self.front):
            await proxy.start()

    async def stop(self) -> None:
        for proxy in (self.postgres, self.processor, self.front):
            await proxy.stop()


@dataclass
class ChaosSystem:
    infra: LocalInfra
    stack: Stack
    run_id: str
    links: NetworkLinks
    # A second process of each REPLICATED service (full profile): same schema and groups, its own port.
    replica_ports: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    clients: list[PaylinksClient] = field(default_factory=list)

    @classmethod
    def create(cls, infra: LocalInfra, home: Path, *, replicated: bool = False) -> ChaosSystem:
        run_id = f"chaos{uuid.uuid4().hex[:6]}"
        config = StackConfig.isolated(home, run_id, service_env(infra))
        replica_ports = {service: free_port() for service in REPLICATED} if replicated else {}
        link_service = [config.ports["link-service"], *replica_ports.values()][:1] + (
            [replica_ports["link-service"]] if replicated else []
        )
        links = NetworkLinks(
            postgres=ProxyProcess([("127.0.0.1", infra.pg_port)], home / "network-postgres.json"),
            processor=ProxyProcess(
                [("127.0.0.1", config.ports["processor-sandbox"])], home / "network-processor.json"
            ),
            front=ProxyProcess([("127.0.0.1", port) for port in link_service], home / "network-front.json"),
        )
        front = f"http://{links.front.address}"
        config.env |= {
            "DATABASE_URL": infra.database_url.replace(f":{infra.pg_port}/", f":{links.postgres.port}/"),
            "PROCESSOR_URL": f"http://{links.processor.address}",
            "PUBLIC_BASE_URL": front,
            "LINK_SERVICE_URL": front,
            "PROCESSOR_WEBHOOK_URL": front + "/v1/processor/webhooks",
            "CHAOS_CLOCK_DIR": str(home / "clock"),
        }
        return cls(infra, Stack(config), run_id, links, replica_ports)

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    @property
    def front_url(self) -> str:
        """Where payers reach link-service: any of its processes that answers."""
        return f"http://{self.links.front.address}"

    def group(self, service: str) -> str:
        return f"{self.run_id}-{service}"

    def schema(self, service: str) -> str:
        return self.config.schemas[service]

    def url(self, service: str) -> str:
        return self.config.url(service)

    def urls(self, service: str) -> list[str]:
        """Every standing process of the service: the stack's and, with replicas, the second one. A
        consumer group's members split its partitions: a per-process metric is the sum over both."""
        replica = [f"http://127.0.0.1:{self.replica_ports[service]}"] if service in self.replica_ports else []
        return [self.url(service), *replica]

    def clock_file(self, service: str) -> Path:
        """The clock_skew hook of the service's processes reads its offset (seconds) from here."""
        return self.config.home / "clock" / service

    def client(self, firm_id: str) -> PaylinksClient:
        """A firm's staff (and paying client) HTTP client, closed with the system."""
        client = PaylinksClient(self.config, firm_id, JWT_SECRET)
        self.clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self.clients:
            await client.close()

    async def start(self) -> None:
        self.clock_file("any").parent.mkdir(parents=True, exist_ok=True)  # and the home, for the links' files
        await self.links.start()
        await self.stack.start()
        for service in self.replica_ports:
            await self.start_replica(service)

    async def stop(self) -> None:
        await self.close_clients()
        for process in self.replicas.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
        await self.stack.stop()
        await self.links.stop()

    async def start_replica(self, service: str) -> None:
        """(Re)start the standing second process of the service and wait until it is ready."""
        url = f"http://127.0.0.1:{self.replica_ports[service]}"
        self.replicas[service] = await self._spawn(service, {"HTTP_PORT": str(self.replica_ports[service])})
        await eventually(partial(_ready, url), timeout=120)

    async def kill_replica(self, service: str, sig: int = signal.SIGKILL) -> None:
        process = self.replicas[service]
        if process.returncode is None:
            process.send_signal(sig)
            await process.wait()

    @asynccontextmanager
    async def sole(self, service: str) -> AsyncIterator[None]:
        """Every standing process of the service stopped (SIGTERM: no work cut off) for the block, which
        starts one of its own (`replica`); started again and ready afterwards."""
        await self.stack.kill(service, signal.SIGTERM)
        if service in self.replicas:
            await self.kill_replica(service, signal.SIGTERM)
        try:
            yield
        finally:
            await self.stack.start_service(service)
            await self.stack.wait_ready(service)
            if service in self.replicas:
                await self.start_replica(service)

    def processes_of(self, service: str) -> list[asyncio.subprocess.Process]:
        """The service's processes: the stack's and, with replicas, the second one."""
        replica = [self.replicas[service]] if service in self.replicas else []
        return [self.stack.processes[service], *replica]

    async def relay_leader(self, service: str) -> asyncio.subprocess.Process:
        """The service's process that holds its outbox relay lease now (the lease names the holder's pid);
        the stack's process if none does."""
        conn = await asyncpg.connect(self.infra.database_url)
        try:
            holder = await conn.fetchval(
                f'SELECT holder FROM "{self.schema(service)}".outbox_relay_lease WHERE expires_at > now()'  # noqa: S608 - our schema name
            )
        finally:
            await conn.close()
        processes = self.processes_of(service)
        pid = int(holder.split(":")[1]) if holder else None
        return next((p for p in processes if p.pid == pid), processes[0])

    @asynccontextmanager
    async def replica(self, service: str, env: dict[str, str] | None = None) -> AsyncIterator[str]:
        """Another process of the service (same schema and consumer groups, own port); yields its URL."""
        port = free_port()
        process = await self._spawn(service, (env or {}) | {"HTTP_PORT": str(port)})
        try:
            url = f"http://127.0.0.1:{port}"
            await eventually(partial(_ready, url), timeout=120)
            yield url
        finally:
            if process.returncode is None:  # a replica may have died of the fault it was started with
                process.send_signal(signal.SIGTERM)
            await process.wait()

    async def _spawn(self, service: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        log = self.replica_log(service).open("ab")
        try:
            return await asyncio.create_subprocess_exec(
                executable(EXECUTABLES.get(service, service)),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.config.service_env(service) | env,
                start_new_session=True,
            )
        finally:
            log.close()

    async def restart(self, service: str) -> None:
        await self.stack.kill(service, signal.SIGTERM)
        await self.stack.start_service(service)
        await self.stack.wait_ready(service)

    def replica_log(self, service: str) -> Path:
        return self.config.home / "logs" / f"{service}-replica.log"

    async def ensure_running(self) -> None:
        """Restart whatever a previous test left dead, and wait until every service is ready."""
        for service in SERVICES:
            if self.stack.processes[service].returncode is not None:
                await self.stack.start_service(service)
        for service, process in self.replicas.items():
            if process.returncode is not None:
                await self.start_replica(service)
        for service in SERVICES:
            await self.stack.wait_ready(service)


async def _ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2.0) as http:
        try:
            return (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.TransportError:
            return False
