"""What figures 6 and 7 share: the services run as processes (devstack), pay links to pay into, and a load of
concurrent HTTP clients on keep-alive connections.

The load generator is a minimal HTTP/1.1 client on asyncio streams rather than httpx: it runs on the same
two cores as the server, and httpx costs several times more CPU per request than the server's own parsing,
so it would measure itself. It speaks exactly what uvicorn answers here: Content-Length bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import asyncpg

from bench.context import BenchContext
from paylinks_devstack.client import TEST_CARD, PaylinksClient, token_of
from paylinks_devstack.stack import Stack, StackConfig
from paylinks_runtime.auth import issue_token
from paylinks_runtime.settings import ServiceSettings

HOME = Path(__file__).resolve().parents[2] / ".local" / "bench"  # service logs of the last runs
# The pay endpoints' limits (link-service settings, env): per client address, which all the bench's clients
# share (127.0.0.1) while in production they are many; and per link, which the bench's links exceed.
RATE_LIMITS = {
    "PAY_REQUESTS_PER_CLIENT": "100000000",
    "PAY_ATTEMPTS_PER_LINK_AND_CLIENT": "100000000",
    "PAY_ATTEMPTS_PER_LINK": "100000000",
}
# Consumers start at the end of the topics: the history other runs left is not this figure's work.
STACK_ENV = {"CONSUMER_START": "latest", **RATE_LIMITS}
PAY_SERVICES = ["processor-sandbox", "link-service"]  # a payment is charged at the sandbox processor


# --- the services as processes ---------------------------------------------------------------------------


class BenchStack(Stack):
    """devstack's Stack, with the command of a service replaceable (a prototype, the bare framework)."""

    def __init__(self, config: StackConfig, commands: dict[str, list[str]] | None = None) -> None:
        super().__init__(config)
        self.commands = commands or {}

    async def start_service(self, service: str) -> None:
        if service not in self.commands:
            await super().start_service(service)
            return
        await self._spawn(service, self.commands[service], self.config.service_env(service))

    def pid(self, service: str) -> int:
        return self.processes[service].pid


@contextlib.asynccontextmanager
async def running_stack(
    ctx: BenchContext, services: list[str] | None = None, commands: dict[str, list[str]] | None = None
) -> AsyncIterator[BenchStack]:
    """The services (all, with the SMTP sink, by default) as separate processes on free ports, own schemas
    and consumer groups, ready (GET /readyz 200); stopped and their schemas dropped afterwards. Their logs
    and mail stay in HOME/<run id> only when something failed."""
    run_id = f"bench_{uuid.uuid4().hex[:8]}"
    stack = BenchStack(StackConfig.isolated(HOME / run_id, run_id, STACK_ENV), commands)
    try:
        if services is None:
            await stack.start()
        else:
            await start_services(stack, services)
        yield stack
    finally:
        await stack.stop()
        await drop_schemas(ctx.database_url, list(stack.config.schemas.values()))
    shutil.rmtree(stack.config.home)


async def start_services(stack: Stack, services: list[str]) -> None:
    """Some of the services, without the SMTP sink."""
    for service in services:
        stack.log_path(service).parent.mkdir(parents=True, exist_ok=True)
        await stack.start_service(service)
    await asyncio.gather(*(stack.wait_ready(s) for s in services))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drop_schemas(database_url: str, schemas: list[str]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def staff(stack: Stack, firm_id: str) -> AsyncIterator[PaylinksClient]:
    client = PaylinksClient(stack.config, firm_id, ServiceSettings().auth_jwt_secret)
    try:
        yield client
    finally:
        await client.close()


@dataclass(frozen=True)
class PayLink:
    bank_account_id: str
    token: str


async def pay_links(client: PaylinksClient, count: int) -> list[PayLink]:
    """`count` bank accounts of the client's firm and their links (one each, as the contract has it)."""

    async def one(i: int) -> PayLink:
        account = await client.register_account(f"Bench account {i}", "trust" if i % 2 else "operating")
        return PayLink(account, token_of(await client.account_link(account)))

    links: list[PayLink] = []
    for start in range(0, count, 16):  # a few at a time: the set-up is not the figure
        links += await asyncio.gather(*(one(i) for i in range(start, min(start + 16, count))))
    return links


# --- requests --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def healthz() -> Request:
    return Request("GET", "/healthz")


def show_link(tokens: list[str]) -> Callable[[], Request]:
    return lambda: Request("GET", f"/v1/pay/{random.choice(tokens)}")


class CardSource(Protocol):
    """Where a payment's card token comes from: the sandbox (CardTokens), or a stand-in where no processor
    checks it (bench/pay_floor.py)."""

    async def take(self) -> str: ...


class CardTokens:
    """Single-use card tokens from the sandbox processor, made before the load as a payer's browser makes
    each one before it posts (link-service takes the token, never the card). Made ahead so the load's
    clients spend their time on link-service; one made on the spot when the stock runs out, and counted."""

    def __init__(self, processor_url: str, publishable_key: str) -> None:
        self._url = processor_url
        self._auth = ("Authorization", f"Bearer {publishable_key}")
        self._stock: list[str] = []
        self.made_on_the_spot = 0

    @classmethod
    async def for_link(cls, link_service_url: str, pay_token: str) -> CardTokens:
        """Where and with which key to tokenize: what the link's view tells the browser."""
        conn = await Connection.open(link_service_url)
        try:
            status, body = await conn.send(Request("GET", f"/v1/pay/{pay_token}"))
        finally:
            await conn.close()
        assert status == 200, body
        processor = json.loads(body)["processor"]
        return cls(processor["url"], processor["publishable_key"])

    async def fill(self, count: int, connections: int = 16) -> None:
        """Make tokens until `count` are in stock."""
        wanted = max(count - len(self._stock), 0)
        if not wanted:
            return
        opened = [await Connection.open(self._url) for _ in range(min(connections, wanted))]

        async def make(conn: Connection, n: int) -> None:
            for _ in range(n):
                self._stock.append(await self._tokenize(conn))

        try:
            share = -(-wanted // len(opened))
            await asyncio.gather(*(make(c, min(share, wanted - i * share)) for i, c in enumerate(opened)))
        finally:
            await asyncio.gather(*(c.close() for c in opened))

    async def take(self) -> str:
        if self._stock:
            return self._stock.pop()
        self.made_on_the_spot += 1
        conn = await Connection.open(self._url)
        try:
            return await self._tokenize(conn)
        finally:
            await conn.close()

    async def _tokenize(self, conn: Connection) -> str:
        body = json.dumps({"type": "card", "card": TEST_CARD}).encode()
        headers = (("Content-Type", "application/json"), self._auth)
        status, answer = await conn.send(Request("POST", "/v1/payment_methods", body, headers))
        if status != 201:
            raise RuntimeError(f"the sandbox did not tokenize the card: {status} {answer[:200]!r}")
        return str(json.loads(answer)["id"])


def card_payment(tokens: list[str], cards: CardSource) -> Callable[[], Awaitable[Request]]:
    """A card payment with a card token from `cards` (from the sandbox: card 4242..., settles by webhook
    2 s later) and a fresh Idempotency-Key."""

    async def make() -> Request:
        body = {
            "amount": random.randint(1_00, 5_000_00),
            "method": "card",
            "payer": {"name": "Jordan Example", "email": "jordan@example.com"},
            "reference": "MAT-2026-0042 retainer",
            "payment_method": await cards.take(),
        }
        headers = (("Content-Type", "application/json"), ("Idempotency-Key", str(uuid.uuid4())))
        return Request(
            "POST", f"/v1/pay/{random.choice(tokens)}/payments", json.dumps(body).encode(), headers
        )

    return make


def refund(payment_id: str, staff_token: str) -> Request:
    """One admin's refund of 1.00 of a payment, with a fresh Idempotency-Key."""
    body = json.dumps({"amount": 100, "reason": "bench: retainer unearned"}).encode()
    headers = (
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {staff_token}"),
        ("Idempotency-Key", str(uuid.uuid4())),
    )
    return Request("POST", f"/v1/payments/{payment_id}/refunds", body, headers)


def admin_token(firm_id: str) -> str:
    return issue_token(
        ServiceSettings().auth_jwt_secret,
        user_id="bench-admin",
        firm_id=firm_id,
        roles=["staff", "admin"],
        ttl=timedelta(hours=2),
    )


# --- a keep-alive HTTP/1.1 connection --------------------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        url = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        return cls(reader, writer, url.netloc)

    async def send(self, request: Request) -> tuple[int, bytes]:
        """One request, its status and body."""
        lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in request.headers]
        lines.append(f"Content-Length: {len(request.body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + request.body)
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = int(head[9:12])
        return status, await self._reader.readexactly(_content_length(head))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def _content_length(head: str) -> int:
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value)
    raise ValueError(f"no Content-Length in the response: {head!r}")


# --- closed-loop load ------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    seconds: float
    expect: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    @property
    def unexpected(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != self.expect)


async def closed_loop(
    base_url: str,
    clients: int,
    seconds: float,
    make: Callable[[], Request | Awaitable[Request]],
    expect: int,
) -> LoadResult:
    """`clients` connections, each sending its next request as soon as the last one was answered, for
    `seconds`. Every response is counted; a status other than `expect` is reported, not retried. Only the
    request's send and answer are timed, not its making (a card token to take, for a payment)."""
    connections = [await Connection.open(base_url) for _ in range(clients)]
    result = LoadResult(seconds, expect)
    deadline = time.perf_counter() + seconds

    async def client(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            made = make()
            request = made if isinstance(made, Request) else await made
            began = time.perf_counter()
            status, _ = await conn.send(request)
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.statuses[status] += 1

    began = time.perf_counter()
    try:
        await asyncio.gather(*(client(c) for c in connections))
    finally:
        result.seconds = time.perf_counter() - began
        await asyncio.gather(*(c.close() for c in connections))
    return result
