"""link-service on the real broker and database, served by a real uvicorn on a free port, beside the real
sandbox processor as its own process (it posts signed webhooks to link-service over HTTP; tests tokenize
card and bank details at it, as a payer's browser would, and pay link-service with the token).

Each test module gets its own service and sandbox (own schemas, own consumer group); firms keep tests apart
on topics.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from link_service.app import create_app
from link_service.config import Settings
from link_service.domain.pay_target import PayTarget
from link_service.store import links
from link_service.tokens import LinkTokens
from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillVoided,
    Envelope,
    Event,
    to_record,
    utcnow,
)
from paylinks_runtime.testing import (
    DATABASE_URL,
    auth_header,
    drop_schema,
    eventually,
    free_socket,
    unique,
)
from paylinks_runtime.testing import serving as runtime_serving
from processor_sandbox.testing import Sandbox, SandboxProcess, sandbox_settings

OK_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
OK_ACCOUNT = "000123456789"
R01_ACCOUNT = "000111111113"
ROUTING = "110000000"


def fast_settings(port: int, processor_url: str = "http://127.0.0.1:9", **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_schema": unique("t_link"),
        "consumer_group_prefix": unique("t") + "-",
        "public_base_url": f"http://127.0.0.1:{port}",
        "processor_url": processor_url,
        "processor_attempts": 2,
        "payment_recovery_after_seconds": 1.0,
        "payment_recovery_interval_seconds": 0.2,
        "pay_attempts_per_link_and_client": 8,
        "pay_requests_per_client": 100_000,
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def sandbox_process(link_service_url: str, **overrides: Any) -> AsyncIterator[Sandbox]:
    """The sandbox processor as a child process, its webhooks going to link-service at `link_service_url`."""
    settings = sandbox_settings(f"{link_service_url}/v1/processor/webhooks", **overrides)
    process = SandboxProcess(settings)
    process.start()
    try:
        async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as http:
            yield Sandbox(process.base_url, settings, http, process.log_path)
    finally:
        process.stop()
        await drop_schema(settings.db_schema)


@asynccontextmanager
async def serving(settings: Settings, sock: socket.socket) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app under uvicorn on `sock` (lifespan included) and hand out a client for it."""
    async with (
        runtime_serving(create_app(settings), sock),
        httpx.AsyncClient(base_url=settings.public_base_url, timeout=20) as client,
    ):
        yield client


@dataclass
class LinkService:
    """A running link-service and the steps tests take with it."""

    client: httpx.AsyncClient
    settings: Settings
    producer: AIOKafkaProducer
    sandbox: Sandbox
    firms: list[str] = field(default_factory=list)

    def new_firm(self) -> str:
        return unique("firm-link")

    async def card_payment(self, amount: int = 12_500, number: str = OK_CARD, **extra: Any) -> dict[str, Any]:
        """A card payment's body, with a fresh token for `number` (tokenized as the payer's browser does)."""
        token = await self.sandbox.tokenize_card(number)
        return card_payment(amount, token, **extra)

    async def echeck_payment(self, amount: int = 30_000, account: str = OK_ACCOUNT) -> dict[str, Any]:
        return echeck_payment(amount, await self.sandbox.tokenize_bank(account))

    async def register_account(self, firm: str, name: str = "Smith & Lee Trust", kind: str = "trust") -> str:
        response = await self.client.post(
            "/v1/bank-accounts",
            json={"name": name, "kind": kind},
            headers=auth_header(firm, roles=("staff", "admin")),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["bank_account_id"])

    async def account_link(self, firm: str, account_id: str) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/bank-accounts/{account_id}/payment-link", headers=auth_header(firm)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def new_account_token(self, firm: str | None = None) -> tuple[str, str, str]:
        """(firm, bank account id, token) of a fresh trust account with its link; the firm also has an
        operating account, which the processor takes the fees from."""
        firm = firm or self.new_firm()
        await self.register_account(firm, "Smith & Lee Operating", "operating")
        account_id = await self.register_account(firm)
        return firm, account_id, token_of((await self.account_link(firm, account_id))["url"])

    async def pay(
        self, token: str, body: dict[str, Any], *, key: str | None = None, via: str | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        params = {"via": via} if via else {}
        return await self.client.post(f"/v1/pay/{token}/payments", json=body, headers=headers, params=params)

    async def publish(self, event: Event) -> None:
        record = to_record(Envelope(event, source="/billing-test"))
        await self.producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=record.headers
        )

    async def issue_bill(self, firm: str, amount: int = 50_000) -> str:
        bill_id = str(uuid.uuid4())
        await self.publish(
            BillIssued(
                bill_id=bill_id,
                firm_id=firm,
                matter_id="m-1",
                contact_id="c-1",
                amount=amount,
                issued_at=utcnow(),
            )
        )
        return bill_id

    async def void_bill(self, firm: str, bill_id: str) -> None:
        await self.publish(BillVoided(bill_id=bill_id, firm_id=firm, voided_at=utcnow()))

    async def apply_to_bill(self, firm: str, bill_id: str, amount: int, balance: int) -> None:
        await self.publish(
            BillPaymentApplied(
                bill_id=bill_id,
                firm_id=firm,
                payment_id=str(uuid.uuid4()),
                amount=amount,
                balance=balance,
                applied_at=utcnow(),
            )
        )

    async def pay_bill_off(self, firm: str, bill_id: str) -> None:
        await self.publish(BillPaid(bill_id=bill_id, firm_id=firm, paid_at=utcnow()))

    async def bill_link(self, firm: str, bill_id: str, account_id: str) -> httpx.Response:
        return await self.client.post(
            f"/v1/bills/{bill_id}/payment-link",
            json={"bank_account_id": account_id},
            headers=auth_header(firm),
        )

    async def bill_link_once_known(self, firm: str, bill_id: str, account_id: str) -> dict[str, Any]:
        """The bill's link, as soon as the service has consumed BillIssued."""

        async def issued() -> httpx.Response | None:
            response = await self.bill_link(firm, bill_id, account_id)
            return response if response.status_code == 201 else None

        response = await eventually(issued)
        assert isinstance(response, httpx.Response)
        return dict(response.json())

    async def link_status(self, token: str) -> dict[str, Any]:
        return dict((await self.client.get(f"/v1/pay/{token}")).json())


def token_of(url: str) -> str:
    return url.rsplit("/pay/", 1)[1].split("?")[0]


def card_payment(amount: int, payment_method: str, **extra: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "method": "card",
        "payer": {"name": "Ada Client", "email": "ada@example.com"},
        "reference": "2026-0042",
        "payment_method": payment_method,
        **extra,
    }


def echeck_payment(amount: int, payment_method: str) -> dict[str, Any]:
    return {
        "amount": amount,
        "method": "echeck",
        "payer": {"name": "Bo Client", "email": "bo@example.com"},
        "payment_method": payment_method,
        "authorization": {"accepted": True},
    }


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to run its service with other settings."""
    return {}


@pytest.fixture(scope="module")
def sandbox_overrides() -> dict[str, Any]:
    """Override in a test module to run its sandbox processor with other settings (timings)."""
    return {}


@pytest.fixture(scope="module")
async def service(
    producer: AIOKafkaProducer, settings_overrides: dict[str, Any], sandbox_overrides: dict[str, Any]
) -> AsyncIterator[LinkService]:
    sock = free_socket()
    port = sock.getsockname()[1]
    async with sandbox_process(f"http://127.0.0.1:{port}", **sandbox_overrides) as sandbox:
        settings = fast_settings(port, sandbox.base_url, **settings_overrides)
        try:
            async with serving(settings, sock) as client:
                yield LinkService(client, settings, producer, sandbox)
        finally:
            await drop_schema(settings.db_schema)


@asynccontextmanager
async def service_pool(service: LinkService) -> AsyncIterator[Any]:
    """A connection to the service's own schema (to check what was, or was not, recorded)."""
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": service.settings.db_schema})
    try:
        yield conn
    finally:
        await conn.close()


async def service_target(service: LinkService, token: str) -> PayTarget:
    async with service_pool(service) as conn:
        target = await links.target_by_token_hash(conn, LinkTokens.lookup_hash(token))
    assert target is not None
    return target
