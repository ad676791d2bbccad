"""Runs the four services, the sandbox payment processor and an SMTP sink as separate processes on this
machine, like production would (where a real processor stands in for the sandbox).

Used by `make up`, `make demo` and the end-to-end tests. Kafka and Postgres come from deploy/local
(or KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL); each service's output goes to `<home>/logs/<service>.log`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

SERVICES: dict[str, int] = {
    "link-service": 8001,
    "billing-service": 8002,
    "reconciliation-service": 8003,
    "notifier": 8004,
    "processor-sandbox": 8005,
}
# Console scripts whose name is not the service's.
EXECUTABLES = {"processor-sandbox": "paylinks-processor-sandbox"}
# The services that apply what is on the topics; the sandbox stands in for the processor and reads none.
CONSUMING = tuple(service for service in SERVICES if service != "processor-sandbox")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def executable(name: str) -> str:
    """A console script of this virtualenv."""
    return str(Path(sys.executable).parent / name)


@dataclass
class StackConfig:
    home: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    smtp_port: int = 1025
    env: dict[str, str] = field(default_factory=dict)  # extra or overriding environment for every service
    schemas: dict[str, str] = field(default_factory=dict)  # service -> DB_SCHEMA; empty: the defaults

    @classmethod
    def isolated(cls, home: Path, run_id: str, env: Mapping[str, str] | None = None) -> StackConfig:
        """Free ports, own schemas and consumer groups: a stack that runs beside anything else."""
        ports = {name: free_port() for name in SERVICES}
        extra = {"CONSUMER_GROUP_PREFIX": f"{run_id}-", **(env or {})}
        schemas = {name: f"{run_id}_{name.split('-')[0]}" for name in SERVICES}
        return cls(home=home, ports=ports, smtp_port=free_port(), env=extra, schemas=schemas)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def maildir(self) -> Path:
        return self.home / "mail"

    def service_env(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "HTTP_PORT": str(self.ports[service]),
            "PUBLIC_BASE_URL": self.url("link-service"),
            "RECONCILIATION_BASE_URL": self.url("reconciliation-service"),
            "LINK_SERVICE_URL": self.url("link-service"),
            "PROCESSOR_URL": self.url("processor-sandbox"),
            "PROCESSOR_WEBHOOK_URL": self.url("link-service") + "/v1/processor/webhooks",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "OTEL_SERVICE_NAME": service,
            **self.env,
        }
        if service in self.schemas:
            env["DB_SCHEMA"] = self.schemas[service]
        return env


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self) -> None:
        logs = self.config.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.config.maildir.mkdir(parents=True, exist_ok=True)
        await self._spawn(
            "smtp-sink",
            [
                executable("paylinks-smtp-sink"),
                "--port",
                str(self.config.smtp_port),
                "--maildir",
                str(self.config.maildir),
            ],
            dict(os.environ),
        )
        for service in SERVICES:
            await self.start_service(service)
        await asyncio.gather(*(self.wait_ready(s) for s in SERVICES))

    async def start_service(self, service: str) -> None:
        await self._spawn(
            service, [executable(EXECUTABLES.get(service, service))], self.config.service_env(service)
        )

    async def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.config.home / "logs" / f"{name}.log").open("ab")
        self.processes[name] = await asyncio.create_subprocess_exec(
            *argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    async def wait_ready(self, service: str, timeout: float = 120.0) -> None:
        url = f"{self.config.url(service)}/readyz"
        async with httpx.AsyncClient(timeout=2.0) as client:
            deadline = asyncio.get_running_loop().time() + timeout
            while asyncio.get_running_loop().time() < deadline:
                self._check_alive(service)
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{service} not ready after {timeout}s; see {self.log_path(service)}")

    def _check_alive(self, service: str) -> None:
        process = self.processes[service]
        if process.returncode is not None:
            tail = self.log_path(service).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{service} exited with {process.returncode}:\n{tail}")

    async def backlog(self) -> dict[str, int | None]:
        """Records each consuming service has still to apply, as its consumer-lag gauges say; None while its
        consumers hold no partitions yet (just started, or joining their groups)."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            answers = await asyncio.gather(
                *(client.get(f"{self.config.url(service)}/metrics") for service in CONSUMING)
            )
        return {
            service: consumer_lag(answer.raise_for_status().text)
            for service, answer in zip(CONSUMING, answers, strict=True)
        }

    def log_path(self, name: str) -> Path:
        return self.config.home / "logs" / f"{name}.log"

    async def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[service]
        if process.returncode is None:
            process.send_signal(sig)
            await process.wait()

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for name in list(self.processes):
            try:
                await asyncio.wait_for(self.processes[name].wait(), 20)
            except TimeoutError:
                await self.kill(name)


def consumer_lag(metrics: str) -> int | None:
    """The sum of a service's `paylinks_consumer_lag` samples (Prometheus text), or None when it has none."""
    samples = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "paylinks_consumer_lag"
        for sample in family.samples
    ]
    return int(sum(samples)) if samples else None
