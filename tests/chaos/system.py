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

import httpx

from paylinks_devstack.client import PaylinksClient
from paylinks_devstack.stack import EXECUTABLES, SERVICES, Stack, StackConfig, executable, free_port
from paylinks_events import Topic
from paylinks_runtime.testing import JWT_SECRET, eventually

from .infra import LocalInfra

# Which consumer group reads which topics (the ConsumerSpecs of the four services; group = prefix + name).
CONSUMED: dict[str, tuple[str, ...]] = {
    "link-service": (Topic.BILLING,),
    "billing-service": (Topic.PRACTICE, Topic.PAYMENT),
    "reconciliation-service": (
        Topic.PAYMENT,
        Topic.BILLING,
        Topic.LINK,
        Topic.PRACTICE,
        Topic.RECONCILIATION,
    ),
    "notifier": (Topic.PAYMENT, Topic.LINK, Topic.BILLING),
}


MUTATIONS = Path(__file__).parent / "mutations"


def crash_after_charge_env() -> dict[str, str]:
    """A link-service process that dies right after the processor answers a charge (mutations/)."""
    return {"CHAOS_CRASH_AFTER_CHARGE": "1", "PYTHONPATH": str(MUTATIONS)}


def service_env(infra: LocalInfra) -> dict[str, str]:
    """Fast settlement and email timings, and pay-endpoint rate limits out of the load's way."""
    return mutation_env() | {
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap,
        "DATABASE_URL": infra.database_url,
        "SANDBOX_CARD_SETTLE_SECONDS": "0.2",
        "SANDBOX_ECHECK_SETTLE_SECONDS": "0.3",
        "SANDBOX_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "SANDBOX_WEBHOOK_RETRY_MAX_SECONDS": "2",
        # A charge left unrecorded by a crash is sent again (same key) this soon by link-service's recovery.
        "PAYMENT_RECOVERY_AFTER_SECONDS": "2",
        "PAYMENT_RECOVERY_INTERVAL_SECONDS": "0.5",
        "PAY_ATTEMPTS_PER_TOKEN": "1000000",
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
    return {"CHAOS_MUTATE": mutation, "PYTHONPATH": str(MUTATIONS)} if mutation else {}


@dataclass
class ChaosSystem:
    infra: LocalInfra
    stack: Stack
    run_id: str
    clients: list[PaylinksClient] = field(default_factory=list)

    @classmethod
    def create(cls, infra: LocalInfra, home: Path) -> ChaosSystem:
        run_id = f"chaos{uuid.uuid4().hex[:6]}"
        return cls(infra, Stack(StackConfig.isolated(home, run_id, service_env(infra))), run_id)

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    def group(self, service: str) -> str:
        return f"{self.run_id}-{service}"

    def schema(self, service: str) -> str:
        return self.config.schemas[service]

    def url(self, service: str) -> str:
        return self.config.url(service)

    def client(self, firm_id: str) -> PaylinksClient:
        """A firm's staff (and paying client) HTTP client, closed with the system."""
        client = PaylinksClient(self.config, firm_id, JWT_SECRET)
        self.clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self.clients:
            await client.close()

    @asynccontextmanager
    async def replica(self, service: str, env: dict[str, str] | None = None) -> AsyncIterator[str]:
        """Another process of the service (same schema and consumer groups, own port); yields its URL."""
        port = free_port()
        env = self.config.service_env(service) | (env or {}) | {"HTTP_PORT": str(port)}
        log = self.replica_log(service).open("ab")
        process = await asyncio.create_subprocess_exec(
            executable(EXECUTABLES.get(service, service)),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        try:
            url = f"http://127.0.0.1:{port}"
            await eventually(partial(_ready, url), timeout=120)
            yield url
        finally:
            if process.returncode is None:  # a replica may have died of the fault it was started with
                process.send_signal(signal.SIGTERM)
            await process.wait()

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
        for service in SERVICES:
            await self.stack.wait_ready(service)


async def _ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2.0) as http:
        try:
            return (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.TransportError:
            return False
