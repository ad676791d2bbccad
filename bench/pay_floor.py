"""The pay POST's floor: the server CPU of the same work on the same stack with nothing of ours around it.

Issue 21 goal 3 asks for <= 1.5 ms of link-service CPU per `POST /v1/pay/{token}/payments`. Before calling
that out of reach because of the stack, this measures the stack alone doing a payment's work: FastAPI on
uvicorn (uvloop, httptools, as the services run), the same JSON body validated by pydantic, the token looked
up by its hash, the attempt recorded (one statement), the processor called over a kept-alive aiohttp
connection with an Idempotency-Key, and the answer recorded (attempt, event and outbox row in one
statement) on link-service's own pool (`paylinks_runtime.db.create_pool`, no reset query on release): the
three statements and one POST of link-service's happy path (bench/README.md, goal 3's round trips). Not
included: the relay publishing the outbox row, the settlement webhook, rate limits, security log, request
metrics and the middlewares.
`--traced` adds what the services add for tracing (setup_tracing and the server spans of server_spans,
as paylinks_runtime.http does it): the first of our layers, measured on its own.
`--published` adds the one part of a payment's work the three statements leave out: its event published to
Kafka by a bare relay in the same process (woken by the commit, the oldest rows read, each sent by the
services' idempotent producer with acks from all replicas, the acknowledged rows deleted in one statement;
with `--traced`, a producer span per record, as the services' relay makes).
`--settled` adds what the rest of a payment costs the server (figure 8's all in): the stand-in settles each
charge `--settle-after` seconds after answering it by a signed `payment.succeeded` webhook, as the sandbox
does (4 delivery workers), and the server records it: the signature checked on the raw body, the body
validated by pydantic, the payment's received event read, then the webhook id, the settlement's two events
(PaymentProcessed, and FeeCharged for its processing fee, as link-service records them) and their outbox
rows in one statement (published too, with `--published`). A round then lasts until every
payment of it is settled (and published), and its CPU is per payment over that whole span.

The processor is a stand-in process answering every charge at once, or after `--answer-after` (its CPU is
not counted); the load is figure 6's client, 64 connections (or `--clients`) in a closed loop; printed per
round: the server's CPU per request (per payment all in, settled).

    PYTHONPATH=. deploy/local/with-infra.sh .venv/bin/python -m bench.pay_floor [--traced] [--published] \
        [--settled] [--answer-after=SECONDS] [--settle-after=SECONDS] [--clients=N] [--rate=PER_SECOND] \
        [SECONDS ROUNDS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import aiohttp
import asyncpg
import uvicorn
import uvloop
from aiohttp import web
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Header, HTTPException, Request
from opentelemetry.trace import Span
from pydantic import BaseModel, EmailStr

from bench.context import BenchContext
from bench.figures.pay_load import LoadResult, card_payment, closed_loop, cpu_seconds, drop_schemas
from paylinks_devstack.stack import free_port
from paylinks_runtime import kafka_spans, webhook_signature
from paylinks_runtime.db import create_pool
from paylinks_runtime.kafka import make_producer
from paylinks_runtime.server_spans import NATIVE_TELEMETRY_OFF
from paylinks_runtime.tracing import trace_headers
from processor_sandbox.fees import processing_fee

LINKS = 256
CLIENTS = 64
# the driver's schema; its server processes are told it (and the topic, if any) on their command line
SCHEMA = f"pay_floor_{os.getpid()}"
RELAY_BATCH = 500  # rows read at a time, as the services' relay reads them
# the layers a run adds to the bare work (command-line options)
TRACED, PUBLISHED, SETTLED = "traced", "published", "settled"
PUBLISH_WAIT_SECONDS = 10.0  # after the last round, for the relay's last batches
SETTLE_WAIT_SECONDS = 120.0  # after a round, for its settlements (a stand-in that stopped delivering fails)
SETTLE_AFTER_SECONDS = 2.0  # the sandbox's card settlement delay (its SANDBOX_CARD_SETTLE_SECONDS)
WEBHOOK_WORKERS = 4  # the sandbox's delivery workers (its SANDBOX_WEBHOOK_WORKERS)
WEBHOOK_PATH = "/v1/processor/webhooks"
WEBHOOK_SECRET = "pay-floor-webhook-secret"  # noqa: S105 - the bench's own, known to its two processes
WEBHOOK_TOLERANCE_SECONDS = 300  # link-service's default
UNPUBLISHED = "-"  # the topic argument of a server that publishes nothing
UNSETTLED = "none"  # the settlement delay argument of a stand-in that settles nothing
ANSWER_DELAY_PATH = "/v1/stand-in/answer-after"
WARM_UP_SECONDS = 3.0
RATE_STEPS = 2  # warm-ups the answer delay is corrected after: the first runs on a cold server, faster later
TABLES = """
CREATE TABLE links (token_hash bytea PRIMARY KEY, link_id text NOT NULL, firm_id text NOT NULL,
                    bank_account_id text NOT NULL, fee_account text NOT NULL, currency text NOT NULL);
CREATE TABLE attempts (payment_id text PRIMARY KEY, link_id text NOT NULL, amount bigint NOT NULL,
                       state text NOT NULL, charge jsonb NOT NULL);
CREATE TABLE events (stream_id text, version int, type text NOT NULL, data jsonb NOT NULL,
                     PRIMARY KEY (stream_id, version));
CREATE TABLE outbox (id bigserial PRIMARY KEY, stream_id text NOT NULL, headers jsonb NOT NULL,
                     payload jsonb NOT NULL);
CREATE TABLE webhooks (id text PRIMARY KEY);
"""
ANSWER = """
WITH received AS (
    UPDATE attempts SET state = 'received' WHERE payment_id = $1 AND state = 'charging' RETURNING true
), event AS (
    INSERT INTO events (stream_id, version, type, data)
    SELECT $1, 1, 'PaymentReceived', $2::jsonb WHERE EXISTS (SELECT FROM received) RETURNING stream_id
)
INSERT INTO outbox (stream_id, headers, payload) SELECT stream_id, $3::jsonb, $2::jsonb FROM event
RETURNING true
"""
# A webhook's id recorded once; the first delivery alone records the settlement's two events (the payment
# processed, and its processing fee charged to the operating account, as link-service records them) and
# their outbox rows.
SETTLE = """
WITH first AS (
    INSERT INTO webhooks (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true
), event AS (
    INSERT INTO events (stream_id, version, type, data)
    SELECT $2, version, type, data
    FROM (VALUES (2, 'PaymentProcessed', $3::jsonb), (3, 'FeeCharged', $4::jsonb)) AS e (version, type, data)
    WHERE EXISTS (SELECT FROM first)
    RETURNING stream_id, version, data
)
INSERT INTO outbox (stream_id, headers, payload)
SELECT stream_id, CASE version WHEN 2 THEN $5::jsonb ELSE $6::jsonb END, data FROM event ORDER BY version
RETURNING true
"""


# What the POST's floor does, for the figures' notes.
POST_WORK = (
    "FastAPI on uvicorn validating the same body, the token looked up, the attempt recorded, a stand-in"
    " processor called over aiohttp, the answer, event and outbox row recorded in one statement"
)


class Payer(BaseModel):
    name: str
    email: EmailStr


class PaymentInput(BaseModel):
    amount: int
    method: Literal["card", "echeck"]
    payment_method: str
    payer: Payer
    reference: str | None = None


class PaymentAccepted(BaseModel):
    payment_id: str
    status: Literal["received"] = "received"


class Succeeded(BaseModel):
    """What link-service reads of a `payment.succeeded` webhook's data."""

    payment_id: str
    fee: int
    fee_id: str
    fee_bank_account_id: str


class Webhook(BaseModel):
    id: str
    type: Literal["payment.succeeded"]
    data: Succeeded


class WebhookAck(BaseModel):
    result: Literal["applied", "ignored"]


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class Parts:
    """What the lifespan opens for the route: the pool and the processor's client."""

    pool: asyncpg.Pool | None = None
    http: aiohttp.ClientSession | None = None
    committed: asyncio.Event | None = None  # set by each answer recorded: the relay's wake-up


async def relay(pool: asyncpg.Pool, committed: asyncio.Event, topic: str, traced: bool) -> None:
    """The outbox published as the services' relay does it, without its lease, metrics and quarantine."""
    producer = make_producer(os.environ["KAFKA_BOOTSTRAP_SERVERS"], "pay-floor")
    await producer.start()
    try:
        while True:
            committed.clear()  # before the read: a commit after it wakes the wait below
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT id, stream_id, headers, payload::text FROM outbox ORDER BY id LIMIT $1",
                    RELAY_BATCH,
                )
                if rows:
                    await publish(producer, rows, topic, traced)
                    await conn.execute(
                        "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
                    )
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(committed.wait(), 0.5)
    finally:
        await producer.stop()


async def publish(producer: AIOKafkaProducer, rows: list[asyncpg.Record], topic: str, traced: bool) -> None:
    """Every row handed to the producer, then every acknowledgement awaited; traced, each record has its
    producer span (its context in the record's headers, ended with the broker's answer)."""
    spans: list[Span | None] = []
    deliveries = []
    for row in rows:
        headers = json.loads(row["headers"])
        span = None
        if traced:
            span = kafka_spans.send_span(
                topic, key=row["stream_id"], message_id=headers["ce_id"], parent=None
            )
            headers.update(trace_headers(span.get_span_context()))
        spans.append(span)
        deliveries.append(
            await producer.send(
                topic,
                value=row["payload"].encode(),
                key=row["stream_id"].encode(),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        )
    for span, metadata in zip(spans, await asyncio.gather(*deliveries), strict=True):
        if span is not None:
            kafka_spans.acknowledged(span, metadata)


def create_app(
    database_url: str, processor_url: str, schema: str, *, topic: str | None, traced: bool
) -> FastAPI:
    """The payment route; with a `topic`, its events published there by a relay beside it."""
    parts = Parts()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # link-service's own pool: its size and session settings, no reset query on release
        parts.pool = await create_pool(database_url, schema, reset_sessions=False)
        async with aiohttp.ClientSession() as parts.http, parts.pool:
            if topic is None:
                yield
                return
            parts.committed = asyncio.Event()
            relaying = asyncio.create_task(relay(parts.pool, parts.committed, topic, traced))
            try:
                yield
            finally:
                relaying.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relaying

    app = FastAPI(lifespan=lifespan, telemetry=NATIVE_TELEMETRY_OFF)  # as the services' apps

    # The Idempotency-Key header is parsed as link-service's route parses it; the charge here is keyed by
    # the payment id, as link-service keys it once the key has found or made the attempt.
    @app.post("/v1/pay/{token}/payments", status_code=202, response_model=PaymentAccepted)
    async def pay(
        token: str, body: PaymentInput, idempotency_key: Annotated[str | None, Header()] = None
    ) -> PaymentAccepted:
        pool, http = parts.pool, parts.http
        # opened by the lifespan before any request
        assert pool is not None
        assert http is not None
        async with pool.acquire() as conn:
            link = await conn.fetchrow("SELECT * FROM links WHERE token_hash = $1", token_hash(token))
        if link is None:
            raise HTTPException(404)
        payment_id = str(uuid.uuid4())
        charge = {
            "payment_id": payment_id,
            "payment_method": body.payment_method,
            "amount": body.amount,
            "currency": link["currency"],
            "firm_id": link["firm_id"],
            "bank_account_id": link["bank_account_id"],
            "fee_bank_account_id": link["fee_account"],
        }
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO attempts VALUES ($1, $2, $3, 'charging', $4::jsonb)",
                payment_id,
                link["link_id"],
                body.amount,
                json.dumps(charge),
            )
        async with http.post(
            processor_url + "/v1/charges",
            data=json.dumps(charge),
            headers={"Idempotency-Key": f"payment:{payment_id}", "Content-Type": "application/json"},
        ) as answer:
            charged = json.loads(await answer.read())
        event = {**charge, "charge_id": charged["id"], "payer": body.payer.model_dump()}
        async with pool.acquire() as conn:
            headers = {"ce_id": str(uuid.uuid4()), "ce_type": "PaymentReceived"}
            await conn.fetchval(ANSWER, payment_id, json.dumps(event), json.dumps(headers))
        if parts.committed is not None:
            parts.committed.set()
        return PaymentAccepted(payment_id=payment_id)

    @app.post(WEBHOOK_PATH, response_model=WebhookAck)
    async def settle(request: Request) -> WebhookAck:
        """The charge's settlement: signature, body, the payment's received event, then one statement."""
        pool = parts.pool
        assert pool is not None  # opened by the lifespan before any request
        body = await request.body()
        signature = request.headers.get(webhook_signature.HEADER)
        if not webhook_signature.verify(
            WEBHOOK_SECRET, signature, body, now=time.time(), tolerance=WEBHOOK_TOLERANCE_SECONDS
        ):
            raise HTTPException(400, "bad signature")
        webhook = Webhook.model_validate_json(body)
        payment_id = webhook.data.payment_id
        async with pool.acquire() as conn:
            received = await conn.fetchval(
                "SELECT data::text FROM events WHERE stream_id = $1 AND version = 1", payment_id
            )
            if received is None:
                raise HTTPException(409, "before its charge's answer")  # the stand-in delivers it again
            processed, fee = settlement(json.loads(received), webhook.data)
            applied = await conn.fetchval(
                SETTLE,
                webhook.id,
                payment_id,
                json.dumps(processed),
                json.dumps(fee),
                json.dumps({"ce_id": str(uuid.uuid4()), "ce_type": "PaymentProcessed"}),
                json.dumps({"ce_id": str(uuid.uuid4()), "ce_type": "FeeCharged"}),
            )
        if applied and parts.committed is not None:
            parts.committed.set()
        return WebhookAck(result="applied" if applied else "ignored")

    return app


def settlement(
    received: dict[str, object], succeeded: Succeeded
) -> tuple[dict[str, object], dict[str, object]]:
    """The settlement's events, built from the received one: the payment processed, and its fee charged."""
    now = datetime.now(UTC).isoformat()
    processed = {**received, "fee": succeeded.fee, "processed_at": now}
    fee = {
        "fee_id": succeeded.fee_id,
        "firm_id": received["firm_id"],
        "payment_id": succeeded.payment_id,
        "kind": "processing",
        "amount": succeeded.fee,
        "currency": received["currency"],
        "bank_account_id": succeeded.fee_bank_account_id,
        "charged_at": now,
    }
    return processed, fee


class Settlements:
    """The stand-in's settlement webhooks: each charge settled `after` seconds after its answer by a signed
    `payment.succeeded`, delivered by WEBHOOK_WORKERS workers and sent again until answered 200."""

    def __init__(self, url: str, after: float) -> None:
        self.url = url
        self.after = after
        self.due: asyncio.Queue[bytes] = asyncio.Queue()

    def schedule(self, charge: dict[str, str | int]) -> None:
        data = {  # the sandbox's payment.succeeded data for a card charge
            "firm_id": charge["firm_id"],
            "payment_id": charge["payment_id"],
            "fee": processing_fee("card", int(charge["amount"])),
            "fee_id": f"fee_{uuid.uuid4().hex}",
            "fee_bank_account_id": charge["fee_bank_account_id"],
            "method": "card",
            "last4": "4242",
            "brand": "visa",
        }
        body = {"id": f"evt_{uuid.uuid4().hex}", "type": "payment.succeeded", "created": int(time.time())}
        encoded = json.dumps({**body, "data": data}, separators=(",", ":")).encode()
        asyncio.get_running_loop().call_later(self.after, self.due.put_nowait, encoded)

    async def deliver(self, http: aiohttp.ClientSession) -> None:
        while True:
            body = await self.due.get()
            while not await self._delivered(http, body):
                await asyncio.sleep(0.5)

    async def _delivered(self, http: aiohttp.ClientSession, body: bytes) -> bool:
        headers = {
            webhook_signature.HEADER: webhook_signature.sign(WEBHOOK_SECRET, int(time.time()), body),
            "Content-Type": "application/json",
        }
        async with http.post(self.url, data=body, headers=headers) as answer:
            await answer.read()
        if answer.status != 200:
            print(f"stand-in: webhook answered {answer.status}, sent again", file=sys.stderr)
        return answer.status == 200


@dataclass
class AnswerDelay:
    """How long the stand-in waits before answering a charge; the driver may set it (ANSWER_DELAY_PATH)."""

    seconds: float


def processor_app(delay: AnswerDelay, settlements: Settlements | None) -> web.Application:
    """The stand-in processor. Answering each charge `delay` later (no CPU spent waiting), it lets the
    server run at the rate the sandbox allows link-service (figure 6: 64 clients at ~200 req/s, a POST's
    ~0.3 s almost all the sandbox's): the server's per-request share of the loop's wake-ups and of each
    relay batch is then as figure 6's, not as at ~1,000 req/s. With `settlements`, each charge answered is
    settled later by a webhook."""

    async def charge(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(delay.seconds)
        if settlements is not None:
            settlements.schedule(body)
        return web.json_response({"id": f"ch_{uuid.uuid4().hex}", "status": "succeeded", **body})

    async def delivering(_: web.Application) -> AsyncIterator[None]:
        if settlements is None:
            yield
            return
        async with aiohttp.ClientSession() as http:
            workers = [asyncio.create_task(settlements.deliver(http)) for _ in range(WEBHOOK_WORKERS)]
            yield
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def set_delay(request: web.Request) -> web.Response:
        delay.seconds = float((await request.json())["seconds"])
        return web.json_response({"seconds": delay.seconds})

    app = web.Application()
    app.router.add_post("/v1/charges", charge)
    app.router.add_put(ANSWER_DELAY_PATH, set_delay)
    app.cleanup_ctx.append(delivering)
    return app


async def seed(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        await conn.execute(f"SET search_path = {SCHEMA}; {TABLES}")
        tokens = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(LINKS)]
        await conn.copy_records_to_table(
            "links",
            schema_name=SCHEMA,
            records=[
                (token_hash(t), f"link-{i}", "firm", "trust", "operating", "USD")
                for i, t in enumerate(tokens)
            ],
        )
        return tokens
    finally:
        await conn.close()


class StandInCards:
    """Card tokens for the stand-in processor, which charges whatever it is given."""

    async def take(self) -> str:
        return f"tok_{uuid.uuid4().hex}"


async def started(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass(frozen=True)
class Floor:
    """Each round's server CPU per request (per payment all in, when settled) and requests/s, and the
    stand-in's answer delay they ran with."""

    cpu_ms_per_request: list[float]
    requests_per_s: list[float]
    answer_after: float


@dataclass(frozen=True)
class Load:
    """How the floor is driven: the stand-in's delays and the closed loop's clients. With a `rate`, the answer
    delay is set after the warm-up so that the closed loop runs at that many requests a second: what the
    floor costs per request depends on the rate (the loop's wake-ups, the relay's batches), so it is
    measured at the rate of the service it stands beside."""

    answer_after: float = 0.0
    settle_after: float = SETTLE_AFTER_SECONDS
    clients: int = CLIENTS
    rate: float | None = None

    @classmethod
    def held_to(cls, rate: float, clients: int = CLIENTS) -> Load:
        """Held to `rate`, starting from the delay that rate would take if the server cost no time (Little's
        law for a closed loop: each client's cycle lasts clients / rate)."""
        return cls(answer_after=clients / rate, clients=clients, rate=rate)


async def measure(
    ctx: BenchContext, layers: set[str], seconds: float, rounds: int, load: Load = Load()
) -> Floor:
    """The floor with `layers` (TRACED, PUBLISHED, SETTLED), its stand-in and clients as `load` says."""
    if PUBLISHED not in layers:
        return await _measure(ctx, layers, seconds, rounds, load, UNPUBLISHED)
    async with ctx.topics() as (topic,):
        return await _measure(ctx, layers, seconds, rounds, load, topic)


async def _measure(
    ctx: BenchContext, layers: set[str], seconds: float, rounds: int, load: Load, topic: str
) -> Floor:
    tokens = await seed(ctx.database_url)
    ports = {"processor": free_port(), "server": free_port()}
    mode = "+".join(["server", *sorted(layers)])
    settle = str(load.settle_after) if SETTLED in layers else UNSETTLED
    procs = {
        role: await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.pay_floor",
            arg,
            *map(str, (ports["processor"], ports["server"])),
            SCHEMA,
            topic,
        )
        for role, arg in (
            ("processor", f"processor+{load.answer_after}+{settle}"),
            ("server", mode),
        )
    }
    try:
        for port in ports.values():
            await started(port)
        url = f"http://127.0.0.1:{ports['server']}"
        make = card_payment(tokens, StandInCards())  # figure 6's payment
        warm_up = await closed_loop(url, load.clients, WARM_UP_SECONDS, make, 202)
        answer_after = load.answer_after
        for _ in range(RATE_STEPS if load.rate is not None else 0):
            answer_after = await hold_to_rate(ports["processor"], load, answer_after, warm_up)
            warm_up = await closed_loop(url, load.clients, WARM_UP_SECONDS, make, 202)
        if SETTLED in layers:  # the warm-up's settlements are not the first round's
            await drained(ctx.database_url, settled=True, published=PUBLISHED in layers)
        cpus: list[float] = []
        rates: list[float] = []
        for _ in range(rounds):
            before = cpu_seconds(procs["server"].pid)
            paid = await closed_loop(url, load.clients, seconds, make, 202)
            if paid.unexpected:  # a request that did not do the whole work would lower the floor
                raise RuntimeError(f"{mode}: {paid.unexpected:,} answers other than 202: {paid.statuses}")
            if SETTLED in layers:
                await drained(ctx.database_url, settled=True, published=PUBLISHED in layers)
            cpus.append((cpu_seconds(procs["server"].pid) - before) * 1000 / len(paid.latencies_ms))
            rates.append(paid.rate)
            print(f"{mode}: {paid.rate:,.0f} req/s, {cpus[-1]:.2f} ms CPU/payment")
        print(f"{mode}: median {statistics.median(cpus):.2f} ms CPU/payment")
        if PUBLISHED in layers:
            payments = await drained(
                ctx.database_url, settled=False, published=True, wait_seconds=PUBLISH_WAIT_SECONDS
            )
            print(f"{mode}: every one of {payments:,} payments' events published")
        return Floor(cpus, rates, answer_after)
    finally:
        for proc in procs.values():
            proc.terminate()
            await proc.wait()
        await drop_schemas(ctx.database_url, [SCHEMA])


async def hold_to_rate(processor_port: int, load: Load, answer_after: float, warm_up: LoadResult) -> float:
    """Set the stand-in's answer delay so that the closed loop runs at `load.rate`. Each client's cycle (its
    request's answer delay, the server's own time and its own) lasts clients / rate (Little's law); the
    warm-up measured that cycle at `answer_after`, so the delay moves by the difference. Returns the delay
    set."""
    assert load.rate is not None
    answer_after = max(0.0, answer_after + load.clients / load.rate - load.clients / warm_up.rate)
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"http://127.0.0.1:{processor_port}{ANSWER_DELAY_PATH}", json={"seconds": answer_after}
        ) as set_to,
    ):
        set_to.raise_for_status()
    return answer_after


async def drained(
    database_url: str, *, settled: bool, published: bool, wait_seconds: float = SETTLE_WAIT_SECONDS
) -> int:
    """Wait until every payment so far is settled (its PaymentProcessed recorded) when `settled`, and every
    event published when `published`; the payments' count. A round's CPU is counted until then, as figure 8
    counts link-service's; and a relay or a stand-in that fell behind (or did nothing) did less than the work
    it stands for, so the floor it gave would be too low: past `wait_seconds`, that is an error."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            payments, processed, unpublished = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM attempts), (SELECT count(*) FROM events WHERE version = 2),"
                " (SELECT count(*) FROM outbox)"
            )
            unsettled = payments - processed if settled else 0
            left = unpublished if published else 0
            if not unsettled and not left:
                return int(payments)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"of {payments:,} payments, {unsettled:,} not settled and {left:,} events unpublished"
                    f" after {wait_seconds:.0f} s"
                )
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


def serve(mode: str, processor_port: int, server_port: int, schema: str, topic: str) -> None:
    if mode.startswith("processor"):
        _, answer_after, settle_after = mode.split("+")
        webhook_url = f"http://127.0.0.1:{server_port}{WEBHOOK_PATH}"
        settlements = None if settle_after == UNSETTLED else Settlements(webhook_url, float(settle_after))
        web.run_app(
            processor_app(AnswerDelay(float(answer_after)), settlements),
            host="127.0.0.1",
            port=processor_port,
            print=None,
            loop=uvloop.new_event_loop(),
        )
        return
    layers = set(mode.split("+")[1:])
    traced = TRACED in layers
    app = create_app(
        os.environ["DATABASE_URL"],
        f"http://127.0.0.1:{processor_port}",
        schema,
        topic=None if topic == UNPUBLISHED else topic,
        traced=traced,
    )
    if traced:
        from paylinks_runtime.server_spans import trace_requests
        from paylinks_runtime.tracing import setup_tracing

        setup_tracing("pay-floor")
        trace_requests(app)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=server_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pay_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument(f"--{TRACED}", action="store_true", help="the services' tracing added")
    parser.add_argument(f"--{PUBLISHED}", action="store_true", help="the event published by a bare relay")
    parser.add_argument(f"--{SETTLED}", action="store_true", help="each charge settled by a webhook")
    parser.add_argument(
        "--answer-after", type=float, default=0.0, metavar="SECONDS", help="the stand-in's delay per charge"
    )
    parser.add_argument(
        "--settle-after",
        type=float,
        default=SETTLE_AFTER_SECONDS,
        metavar="SECONDS",
        help="the stand-in's settlement delay after its answer",
    )
    parser.add_argument("--clients", type=int, default=CLIENTS, help="closed-loop clients")
    parser.add_argument(
        "--rate", type=float, help="requests/s to hold the floor to (the answer delay set after the warm-up)"
    )
    parser.add_argument("seconds", nargs="?", type=float, default=20.0, help="length of a round")
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    args = parser.parse_args(argv)
    layers = {layer for layer in (TRACED, PUBLISHED, SETTLED) if getattr(args, layer)}
    ctx = BenchContext(quick=False, out_dir=Path.cwd())
    load = Load(args.answer_after, args.settle_after, args.clients, args.rate)
    uvloop.run(measure(ctx, layers, args.seconds, args.rounds, load))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].split("+")[0] in ("processor", "server"):
        serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main(sys.argv[1:])
