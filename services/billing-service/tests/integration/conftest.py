"""billing-service on the real broker and database: one app (own schema, own consumer groups) per test
module, and a `world` that plays the outside systems: practice management and the payment channel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from billing_service.app import create_app
from billing_service.config import Settings
from billing_service.reactions import CONSUMER
from paylinks_events import ContactCreated, Envelope, Event, MatterOpened, PaymentProcessed, to_record, utcnow
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.testing import (
    auth_header,
    drop_schema,
    eventually,
    running_app,
    start_at_the_end,
    unique,
)


async def isolated_settings(schema: str) -> Settings:
    """Settings of an app instance in `schema` with consumer groups (hence an inbox) of its own, which start
    at the end of the topics: the shared topics keep every earlier run's events forever, and replaying them
    in each fresh schema would re-emit a PaymentUnallocated for every old payment of a dropped test bill."""
    # No link-service runs here to say a void was applied (BillLinksClosed): a void waits this long, not 10 s,
    # unless the test publishes that event itself (test_void_links.py).
    settings = Settings(
        db_schema=schema, consumer_group_prefix=unique("t") + "-", void_links_timeout_seconds=3.0
    )
    await start_at_the_end(settings.consumer_group_prefix + CONSUMER.name, CONSUMER.topics)
    return settings


@pytest.fixture(scope="module")
async def billing() -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    settings = await isolated_settings(unique("t_billing"))
    app = create_app(settings)
    try:
        async with running_app(app) as client:
            yield client, app.state.runtime
    finally:
        await drop_schema(settings.db_schema)


@pytest.fixture(scope="module")
async def second_instance(runtime: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    """Another billing-service process on the same schema, consuming in consumer groups of its own."""
    app = create_app(await isolated_settings(runtime.settings.db_schema))
    async with running_app(app):
        yield app.state.runtime


@pytest.fixture(scope="module")
def client(billing: tuple[httpx.AsyncClient, ServiceRuntime]) -> httpx.AsyncClient:
    return billing[0]


@pytest.fixture(scope="module")
def runtime(billing: tuple[httpx.AsyncClient, ServiceRuntime]) -> ServiceRuntime:
    return billing[1]


@pytest.fixture
def firm() -> str:
    return unique("firm")


class World:
    """The systems around billing-service: they publish practice and payment events, staff call the API."""

    def __init__(
        self, client: httpx.AsyncClient, runtime: ServiceRuntime, producer: AIOKafkaProducer
    ) -> None:
        self.client, self.runtime, self.producer = client, runtime, producer

    async def publish(
        self, event: Event, *, ce_id: str | None = None, partition: int | None = None
    ) -> RecordMetadata:
        envelope = Envelope(event, source="/tests", id=ce_id or str(uuid.uuid4()))
        record = to_record(envelope)
        return await self.producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=record.headers, partition=partition
        )

    async def matter(self, firm: str) -> tuple[str, str]:
        """A contact and a matter of `firm` that billing-service has learnt about: (matter_id, contact_id)."""
        contact_id, matter_id = unique("contact"), unique("matter")
        await self.publish(ContactCreated(firm_id=firm, contact_id=contact_id, name="Ada Lovelace"))
        await self.publish(
            MatterOpened(firm_id=firm, matter_id=matter_id, contact_id=contact_id, name="Estate")
        )
        await eventually(lambda: self._known(firm, matter_id, contact_id))
        return matter_id, contact_id

    async def _known(self, firm: str, matter_id: str, contact_id: str) -> bool:
        found = await self.runtime.pool.fetchval(
            "SELECT (SELECT count(*) FROM matters WHERE firm_id = $1 AND matter_id = $2)"
            " + (SELECT count(*) FROM contacts WHERE firm_id = $1 AND contact_id = $3)",
            firm,
            matter_id,
            contact_id,
        )
        return bool(found == 2)

    async def issue_bill(self, firm: str, amount: int = 10_000, **extra: Any) -> dict[str, Any]:
        matter_id, contact_id = await self.matter(firm)
        body = {"matter_id": matter_id, "contact_id": contact_id, "amount": amount, **extra}
        response = await self.client.post("/v1/bills", json=body, headers=auth_header(firm))
        assert response.status_code == 201, response.text
        bill: dict[str, Any] = response.json()
        return bill

    async def bill(self, firm: str, bill_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/bills/{bill_id}", headers=auth_header(firm))
        assert response.status_code == 200, response.text
        bill: dict[str, Any] = response.json()
        return bill

    async def bill_in_state(self, firm: str, bill_id: str, state: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            bill = await self.bill(firm, bill_id)
            return bill if bill["state"] == state else None

        return await eventually(probe)  # type: ignore[return-value]

    @staticmethod
    def processed(
        firm: str, bill_id: str | None, amount: int, payment_id: str | None = None, currency: str = "USD"
    ) -> PaymentProcessed:
        return PaymentProcessed(
            payment_id=payment_id or str(uuid.uuid4()),
            firm_id=firm,
            bank_account_id="ba-test",
            bill_id=bill_id,
            amount=amount,
            currency=currency,
            method="card",
            processed_at=utcnow(),
        )


@pytest.fixture(scope="module")
def world(client: httpx.AsyncClient, runtime: ServiceRuntime, producer: AIOKafkaProducer) -> World:
    return World(client, runtime, producer)
