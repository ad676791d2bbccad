"""One reconciliation-service for the integration tests (its own schema and consumer groups), on the real
broker and database, and a `firm` helper that publishes the other services' events with a plain producer."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    ContactCreated,
    DisputeClosed,
    Envelope,
    Event,
    FeeCharged,
    MatterOpened,
    Payer,
    PaymentDisputed,
    PaymentFailed,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PaymentUnallocated,
    PayoutLine,
    PayoutPaid,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
    Topic,
    to_record,
)
from paylinks_runtime.testing import (
    BOOTSTRAP,
    DATABASE_URL,
    auth_header,
    drop_schema,
    eventually,
    free_socket,
    running_app,
    serious_accessibility_violations,
    serving,
    unique,
)
from reconciliation_service.app import create_app
from reconciliation_service.config import MIGRATIONS, Settings
from reconciliation_service.projection import PROJECTION_TOPICS


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(db_schema=unique("t_recon"), consumer_group_prefix=unique("t") + "-")


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    try:
        async with running_app(app) as client:
            # a fresh consumer group reads the shared topics from the beginning: let it catch up first, so
            # a test's own wait measures its own events, not the backlog of every earlier run
            consumer = f"{settings.consumer_group_prefix}reconciliation-service"
            await eventually(partial(caught_up, consumer), timeout=300, interval=0.5)
            yield client
    finally:
        await drop_schema(settings.db_schema)
        await drop_schema(f"{settings.db_schema}_rebuild")


async def caught_up(consumer: str) -> bool:
    """This session's projection consumer has committed the end of every partition of its topics, as the
    broker says (asked apart from the service: its own lag gauge is measured on a timer that a long
    catch-up of every earlier test's events can keep from answering in time)."""
    kafka = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=consumer, enable_auto_commit=False)
    await kafka.start()
    try:
        await kafka._client.force_metadata_update()
        partitions = [
            TopicPartition(topic, partition)
            for topic in PROJECTION_TOPICS
            for partition in kafka.partitions_for_topic(topic) or ()
        ]
        ends = await kafka.end_offsets(partitions)
        for tp, end in ends.items():
            if end and (await kafka.committed(tp) or 0) < end:
                return False
        return True
    finally:
        await kafka.stop()


async def connect(schema: str) -> asyncpg.Connection:
    """A connection on a new schema holding the read model's tables (as the rebuild makes them)."""
    conn = await asyncpg.connect(DATABASE_URL)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    await conn.execute(f'SET search_path TO "{schema}"')
    for path in sorted(MIGRATIONS.glob("*_read_model*.sql")):
        await conn.execute(path.read_text())
    return conn


async def own_events_applied(pool: asyncpg.Pool, timeout: float = 30.0) -> None:
    """Wait until every event the service published itself has come back through its projection consumer:
    once its outbox is empty they are all below the topic's end offsets of that moment, and the offsets
    stored with the projection reach those (a fixed mark: other runs may keep publishing meanwhile)."""
    await eventually(lambda: _outbox_empty(pool), timeout=timeout)
    ends = await _end_offsets(str(Topic.RECONCILIATION))
    await eventually(lambda: _stored_offsets_reach(pool, ends), timeout=timeout)


async def _outbox_empty(pool: asyncpg.Pool) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM outbox")


async def _stored_offsets_reach(pool: asyncpg.Pool, ends: dict[TopicPartition, int]) -> bool:
    rows = await pool.fetch(
        "SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1", str(Topic.RECONCILIATION)
    )
    stored = {row["partition"]: row["next_offset"] for row in rows}
    return all(stored.get(tp.partition, 0) >= end for tp, end in ends.items() if end)


async def _end_offsets(topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
def pool(app: FastAPI, client: httpx.AsyncClient) -> asyncpg.Pool:
    """The service's own pool (search_path = its schema): for looking at the read model and its offsets."""
    return app.state.runtime.pool


class Firm:
    """A firm of its own on the shared topics: builds the events other services publish, and asks the API."""

    def __init__(self, producer: AIOKafkaProducer, client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
        self.id = unique("firm")
        self.headers = auth_header(self.id, user_id="staff-ann")
        self._producer = producer
        self.client = client
        self.pool = pool

    # --- publishing ----------------------------------------------------------------------------------------

    async def publish(self, *items: Event | Envelope) -> list[Envelope]:
        envelopes = [i if isinstance(i, Envelope) else Envelope(i, source="/tests") for i in items]
        futures = []
        for envelope in envelopes:
            record = to_record(envelope)
            futures.append(
                await self._producer.send(
                    record.topic, value=record.value, key=record.key, headers=record.headers
                )
            )
        await asyncio.gather(*futures)
        return envelopes

    # --- the other services' events -------------------------------------------------------------------------

    def bank_account(self, name: str = "Operating account", kind: str = "operating") -> BankAccountRegistered:
        return BankAccountRegistered(firm_id=self.id, bank_account_id=new_id(), name=name, kind=kind)

    def contact(self, name: str = "Dana Client", email: str | None = None) -> ContactCreated:
        return ContactCreated(firm_id=self.id, contact_id=new_id(), name=name, email=email)

    def matter(
        self, contact_id: str, name: str = "Estate of Smith", number: str | None = None
    ) -> MatterOpened:
        return MatterOpened(
            firm_id=self.id, matter_id=new_id(), contact_id=contact_id, name=name, number=number
        )

    def bill(self, matter: MatterOpened, amount: int = 7000) -> BillIssued:
        return BillIssued(
            firm_id=self.id,
            bill_id=new_id(),
            matter_id=matter.matter_id,
            contact_id=matter.contact_id,
            amount=amount,
            issued_at=datetime.now(UTC) - timedelta(days=210),
        )

    def received(self, bank_account_id: str, **fields: Any) -> PaymentReceived:
        values: dict[str, Any] = {
            "firm_id": self.id,
            "payment_id": new_id(),
            "bank_account_id": bank_account_id,
            "source": "bank_account_link",
            "amount": 12500,
            "method": "card",
            "payer": Payer(name="Pat Payer", email="pat@example.com"),
            # Far enough back that what follows it (a return 40 s after, a dispute closed 50 s after) has
            # happened by now: a reconciliation as of now counts only what happened by then.
            "received_at": datetime.now(UTC) - timedelta(minutes=5),
            "card_brand": "visa",
            "last4": "4242",
        }
        return PaymentReceived(**(values | fields))

    def processed(self, received: PaymentReceived, **fields: Any) -> PaymentProcessed:
        values: dict[str, Any] = {
            "firm_id": self.id,
            "payment_id": received.payment_id,
            "bank_account_id": received.bank_account_id,
            "bill_id": received.bill_id,
            "amount": received.amount,
            "method": received.method,
            "processed_at": received.received_at + timedelta(seconds=2),
        }
        return PaymentProcessed(**(values | fields))

    def failed(self, received: PaymentReceived, reason: str = "R01") -> PaymentFailed:
        return PaymentFailed(
            firm_id=self.id,
            payment_id=received.payment_id,
            reason=reason,
            failed_at=received.received_at + timedelta(seconds=5),
        )

    def unallocated(
        self, received: PaymentReceived, amount: int, reason: str = "overpayment"
    ) -> PaymentUnallocated:
        assert received.bill_id is not None
        return PaymentUnallocated(
            firm_id=self.id,
            bill_id=received.bill_id,
            payment_id=received.payment_id,
            amount=amount,
            reason=reason,
            unallocated_at=received.received_at + timedelta(seconds=3),
        )

    # --- money after the payment (link-service's v2 events) -------------------------------------------------

    def refund_requested(
        self, received: PaymentReceived, amount: int, by: str = "admin-amy"
    ) -> RefundRequested:
        return RefundRequested(
            firm_id=self.id,
            refund_id=new_id(),
            payment_id=received.payment_id,
            bank_account_id=received.bank_account_id,
            amount=amount,
            currency=received.currency,
            reason="overpaid",
            requested_by=by,
            requested_at=received.received_at + timedelta(seconds=10),
        )

    def refund_succeeded(self, requested: RefundRequested) -> RefundSucceeded:
        return RefundSucceeded(
            firm_id=self.id,
            refund_id=requested.refund_id,
            payment_id=requested.payment_id,
            bank_account_id=requested.bank_account_id,
            amount=requested.amount,
            currency=requested.currency,
            succeeded_at=requested.requested_at + timedelta(seconds=1),
        )

    def refund_failed(self, requested: RefundRequested) -> RefundFailed:
        return RefundFailed(
            firm_id=self.id,
            refund_id=requested.refund_id,
            payment_id=requested.payment_id,
            reason="processor_error",
            failed_at=requested.requested_at + timedelta(seconds=1),
        )

    def disputed(self, received: PaymentReceived, amount: int | None = None) -> PaymentDisputed:
        at = received.received_at + timedelta(seconds=20)
        return PaymentDisputed(
            firm_id=self.id,
            dispute_id=new_id(),
            payment_id=received.payment_id,
            bank_account_id=received.bank_account_id,
            amount=amount or received.amount,
            currency=received.currency,
            reason="fraudulent",
            evidence_due_by=at + timedelta(days=7),
            disputed_at=at,
        )

    def dispute_closed(self, disputed: PaymentDisputed, outcome: str) -> DisputeClosed:
        return DisputeClosed(
            firm_id=self.id,
            dispute_id=disputed.dispute_id,
            payment_id=disputed.payment_id,
            outcome=outcome,
            amount=disputed.amount,
            currency=disputed.currency,
            closed_at=disputed.disputed_at + timedelta(seconds=30),
        )

    def returned(self, received: PaymentReceived, reason: str = "R10") -> PaymentReturned:
        return PaymentReturned(
            firm_id=self.id,
            payment_id=received.payment_id,
            bank_account_id=received.bank_account_id,
            amount=received.amount,
            currency=received.currency,
            reason=reason,
            returned_at=received.received_at + timedelta(seconds=40),
        )

    def fee(self, received: PaymentReceived, fee_account_id: str, amount: int = 393) -> FeeCharged:
        return FeeCharged(
            firm_id=self.id,
            fee_id=new_id(),
            payment_id=received.payment_id,
            kind="processing",
            amount=amount,
            currency=received.currency,
            bank_account_id=fee_account_id,
            charged_at=received.received_at + timedelta(seconds=2),
        )

    def payout(self, bank_account_id: str, *lines: PayoutLine, arrival: date | None = None) -> PayoutPaid:
        return PayoutPaid(
            firm_id=self.id,
            payout_id=new_id(),
            bank_account_id=bank_account_id,
            amount=sum(line.amount for line in lines),
            arrival_date=arrival or datetime.now(UTC).date(),
            lines=lines,
        )

    # --- scenarios ------------------------------------------------------------------------------------------

    async def ready_payment(self, bank_account_id: str, **fields: Any) -> PaymentReceived:
        """A processed payment, once the read model shows it ready."""
        received = self.received(bank_account_id, **fields)
        await self.publish(received, self.processed(received))
        await self.wait_for_status(received.payment_id, "ready")
        return received

    async def practice(self) -> tuple[ContactCreated, MatterOpened]:
        """A contact with a matter, once the read model knows them."""
        contact = self.contact()
        matter = self.matter(contact.contact_id, number=f"M-{uuid.uuid4().hex[:6]}")
        await self.publish(contact, matter)
        await eventually(lambda: self.knows_matter(matter.matter_id))
        return contact, matter

    # --- reading --------------------------------------------------------------------------------------------

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.headers, params=params)

    async def payment(self, payment_id: str) -> dict[str, Any] | None:
        response = await self.get(f"/v1/payments/{payment_id}")
        return response.json() if response.status_code == 200 else None

    async def wait_for_status(self, payment_id: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            payment = await self.payment(payment_id)
            return payment if payment and payment["status"] == status else None

        return await eventually(probe)  # type: ignore[return-value]

    async def knows_matter(self, matter_id: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT true FROM matters WHERE firm_id = $1 AND matter_id = $2", self.id, matter_id
            )
        )


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def firm(producer: AIOKafkaProducer, client: httpx.AsyncClient, pool: asyncpg.Pool) -> Firm:
    return Firm(producer, client, pool)


@pytest.fixture
def other_firm(producer: AIOKafkaProducer, client: httpx.AsyncClient, pool: asyncpg.Pool) -> Firm:
    return Firm(producer, client, pool)


# --- the browser tests' shared pieces (the workspace and the emailed page) --------------------------------

WIDTHS = (1280, 400)
Photograph = Callable[[Any, str], Awaitable[None]]


@pytest.fixture
async def served(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[str]:
    """The running app on a real port (its lifespan is already running: uvicorn only serves HTTP)."""
    async with serving(app, free_socket(), lifespan="off") as url:
        yield url


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Screenshots go to a temporary folder, or to $PAYLINKS_SCREENSHOTS (docs/screenshots for the README)."""
    folder = Path(os.environ.get("PAYLINKS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def check_and_photograph(shots: Path, axe_core: Path) -> Photograph:
    """axe-core finds no serious or critical violation on the page (its context needs `bypass_csp` for the
    injection); then the page, whole, at each width, as `workspace-<name>-<width>.png`."""

    async def check(page: Any, name: str) -> None:
        serious = await serious_accessibility_violations(page, axe_core)
        assert serious == [], f"{name}: {serious}"
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 900})
            await page.screenshot(path=str(shots / f"workspace-{name}-{width}.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 900})

    return check
