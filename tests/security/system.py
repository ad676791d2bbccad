"""The four services and the sandbox payment processor in this process, each on a real port (uvicorn,
lifespan included) with its own schema and consumer groups, an SMTP sink, and the recorders of what they
leave behind (the processor's log lines included).

Real ports rather than an ASGI transport: the sandbox processor posts its webhooks over HTTP, the fuzzer
(schemathesis, synchronous) calls from a worker thread while the services keep the test's event loop, and
the per-client rate limit of the pay endpoints sees each test's own loopback address.
"""

from __future__ import annotations

import io
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from billing_service.app import create_app as billing_app
from billing_service.config import Settings as BillingSettings
from link_service.app import create_app as link_app
from link_service.config import Settings as LinkSettings
from notifier.app import create_app as notifier_app
from notifier.config import Settings as NotifierSettings
from notifier.smtp_sink import SmtpSink, free_port
from paylinks_runtime.kafka import contract_topics, ensure_topics
from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.testing import BOOTSTRAP, drop_schema, free_socket, serving, unique
from processor_sandbox.testing import Sandbox, running_sandbox, sandbox_settings
from reconciliation_service.app import create_app as reconciliation_app
from reconciliation_service.config import Settings as ReconciliationSettings

from .recorders import KafkaTape, LogRecorder

LINK, BILLING, RECONCILIATION, NOTIFIER = (
    "link-service",
    "billing-service",
    "reconciliation-service",
    "notifier",
)
APP_FACTORIES: dict[str, Callable[..., FastAPI]] = {
    LINK: link_app,
    BILLING: billing_app,
    RECONCILIATION: reconciliation_app,
    NOTIFIER: notifier_app,
}

# Each test client gets its own loopback address (127.0.1.x): the pay endpoints limit requests per client.
_CLIENT_ADDRESSES = (f"127.0.{i // 250 + 1}.{i % 250 + 1}" for i in itertools.count())


def client_address() -> str:
    return next(_CLIENT_ADDRESSES)


def http_client(base_url: str, address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address or client_address())
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)


@dataclass
class Service:
    name: str
    app: FastAPI
    settings: ServiceSettings
    url: str

    @property
    def schema(self) -> str:
        return self.settings.db_schema

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.app.state.runtime.pool.acquire() as conn:
            return await conn.fetchval(query, *args)

    async def events_of(self, firm_id: str) -> int:
        """Events this service recorded for a firm (its event store: every decision it took)."""
        return int(await self.fetchval("SELECT count(*) FROM events WHERE firm_id = $1", firm_id))

    async def outbox_empty(self) -> bool:
        """Nothing left to publish: every event recorded so far is on Kafka."""
        return bool(await self.fetchval("SELECT count(*) = 0 FROM outbox"))


@dataclass
class System:
    services: dict[str, Service]
    sink: SmtpSink
    logs: LogRecorder
    kafka: KafkaTape
    run_id: str
    processor: Sandbox

    @property
    def link(self) -> Service:
        return self.services[LINK]

    @property
    def billing(self) -> Service:
        return self.services[BILLING]

    @property
    def reconciliation(self) -> Service:
        return self.services[RECONCILIATION]

    @property
    def notifier(self) -> Service:
        return self.services[NOTIFIER]

    def envelope_recipients(self, message: EmailMessage) -> list[str]:
        """Who the SMTP server was asked to deliver a message to (RCPT TO), whatever its headers say."""
        out = self.sink.handler.out
        assert isinstance(out, io.StringIO)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return [r for line in lines if line["message_id"] == message["message-id"] for r in line["to"]]

    @property
    def firm_prefix(self) -> str:
        """Every firm of this run has an id starting with it: our records on the shared topics."""
        return f"firm-{self.run_id}-"


def settings_for(
    run_id: str, ports: dict[str, int], smtp_port: int, processor_url: str
) -> dict[str, ServiceSettings]:
    def common(name: str) -> dict[str, Any]:
        return {
            "db_schema": f"{run_id}_{name.split('-')[0]}",
            "consumer_group_prefix": f"{run_id}-",
            "http_port": ports[name],
        }

    link_url = f"http://127.0.0.1:{ports[LINK]}"
    return {
        LINK: LinkSettings(
            **common(LINK),
            public_base_url=link_url,
            processor_url=processor_url,
            pay_attempts_per_link_and_client=20,
            # Three clients' budgets, not production's 300: the ceiling test sends this many to one link.
            pay_attempts_per_link=60,
            pay_requests_per_client=60,
        ),
        BILLING: BillingSettings(**common(BILLING)),
        RECONCILIATION: ReconciliationSettings(**common(RECONCILIATION)),
        NOTIFIER: NotifierSettings(
            **common(NOTIFIER),
            smtp_port=smtp_port,
            reconciliation_base_url=f"http://127.0.0.1:{ports[RECONCILIATION]}",
            email_poll_seconds=0.1,
            email_retry_base_seconds=0.2,
            email_retry_max_seconds=1.0,
        ),
    }


async def start_at_the_end(app: FastAPI) -> None:
    """Commit the current end offsets for the app's consumer groups before it starts: the shared topics
    keep every earlier run's events, and replaying them (billing would re-decide old payments) is not
    what these tests are about."""
    runtime = app.state.runtime
    groups = [runtime.settings.consumer_group_prefix + spec.name for spec in runtime._consumer_specs]
    topics = {topic for spec in runtime._consumer_specs for topic in spec.topics}
    for group in groups:
        consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
            ]
            consumer.assign(partitions)
            await consumer.commit(await consumer.end_offsets(partitions))
        finally:
            await consumer.stop()


@asynccontextmanager
async def running_system(maildir: Path) -> AsyncIterator[System]:
    run_id = unique("sec").replace("_", "")
    sockets: dict[str, socket.socket] = {name: free_socket() for name in APP_FACTORIES}
    ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
    smtp_port = free_port()
    # eChecks never settle by themselves here: the webhook tests report them by hand.
    processor_settings = sandbox_settings(
        f"http://127.0.0.1:{ports[LINK]}/v1/processor/webhooks", sandbox_echeck_settle_seconds=3600
    )
    await ensure_topics(BOOTSTRAP, contract_topics())
    logs, kafka = LogRecorder(), KafkaTape()
    logs.install()
    await kafka.start()
    try:
        async with AsyncExitStack() as stack:
            processor = await stack.enter_async_context(running_sandbox("", processor_settings))
            all_settings = settings_for(run_id, ports, smtp_port, processor.base_url)
            sink = stack.enter_context(SmtpSink(port=smtp_port, maildir=maildir, out=io.StringIO()))
            services = {}
            for name, factory in APP_FACTORIES.items():
                app = factory(all_settings[name])
                await start_at_the_end(app)
                served = serving(app, sockets[name], settings=all_settings[name])  # as in production
                url = await stack.enter_async_context(served)
                services[name] = Service(name, app, all_settings[name], url)
            yield System(services, sink, logs, kafka, run_id, processor)
    finally:
        await kafka.stop()
        logs.uninstall()
        for schema in [
            *(f"{run_id}_{name.split('-')[0]}" for name in APP_FACTORIES),
            processor_settings.db_schema,
        ]:
            await drop_schema(schema)
