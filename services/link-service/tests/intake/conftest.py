"""Intake against the real database with the fake processor: what happens around the charge (refusals,
idempotency, crashes, races), without a processor process. Seeded straight into link-service's tables."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from link_service.app import MIGRATIONS
from link_service.commands.intake import PaymentIntake, PaymentRequest
from link_service.processor.fake import FakeProcessor
from link_service.store import links
from link_service.store.intake_tables import PostgresAttemptLedger, intake_writer
from paylinks_events import Payer
from paylinks_runtime.db import create_pool, migrate
from paylinks_runtime.testing import DATABASE_URL, drop_schema, unique
from paylinks_runtime.unit_of_work import Writer


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    schema = unique("t_intake")
    pool = await create_pool(DATABASE_URL, schema)
    try:
        await migrate(pool, MIGRATIONS)
        yield pool
    finally:
        await pool.close()
        await drop_schema(schema)


@dataclass
class Desk:
    """A firm's accounts and links in the database, the fake processor and the intake under test."""

    pool: asyncpg.Pool
    processor: FakeProcessor
    writer: Writer
    intake: PaymentIntake
    firm_id: str

    async def pay(self, link_id: str, request: PaymentRequest, key: str | None = None) -> str:
        """Pay as the pay API does: the link read as the request finds it, then the intake."""
        async with self.pool.acquire() as conn:
            target = await links.target(conn, link_id)
        assert target is not None, link_id
        return await self.intake.pay(target, request, key)

    async def account(self, kind: str = "trust") -> str:
        account_id = str(uuid.uuid4())
        await self.pool.execute(
            "INSERT INTO bank_accounts (bank_account_id, firm_id, name, kind, currency)"
            " VALUES ($1, $2, $3, $4, 'USD')",
            account_id,
            self.firm_id,
            f"{kind} account",
            kind,
        )
        return account_id

    async def link(self, account_id: str, bill_id: str | None = None) -> str:
        link_id = str(uuid.uuid4())
        await self.pool.execute(
            "INSERT INTO links (link_id, firm_id, kind, bank_account_id, bill_id, token_hash, token_seed)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            link_id,
            self.firm_id,
            "bill" if bill_id else "bank_account",
            account_id,
            bill_id,
            secrets.token_bytes(32),
            secrets.token_bytes(32),
        )
        return link_id

    async def bill(self, amount: int, state: str = "open") -> str:
        bill_id = str(uuid.uuid4())
        await self.pool.execute(
            "INSERT INTO bills (bill_id, firm_id, amount, balance, currency, state)"
            " VALUES ($1, $2, $3, $3, 'USD', $4)",
            bill_id,
            self.firm_id,
            amount,
            state,
        )
        return bill_id

    async def received(self, payment_id: str) -> int:
        """How many PaymentReceived the payment has (there should never be more than one)."""
        count: int = await self.pool.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'PaymentReceived'", payment_id
        )
        return count

    async def pending(self, link_id: str) -> int:
        """What the link's bill holds back for payments being charged or received."""
        async with self.pool.acquire() as conn:
            target = await links.target(conn, link_id)
        assert target is not None
        return target.pending

    async def received_in_firm(self) -> int:
        count: int = await self.pool.fetchval(
            "SELECT count(*) FROM events WHERE firm_id = $1 AND event_type = 'PaymentReceived'", self.firm_id
        )
        return count


@pytest.fixture
async def desk(pool: asyncpg.Pool) -> Desk:
    processor, writer = FakeProcessor(), Writer(pool, "/link-service-test")
    intake = PaymentIntake(intake_writer(writer), PostgresAttemptLedger(writer), processor, limit=2_500_000)
    desk = Desk(pool, processor, writer, intake, unique("firm-intake"))
    await desk.account("operating")  # the fee account
    return desk


def card(token: str, amount: int = 10_000, **extra: object) -> PaymentRequest:
    return PaymentRequest(
        amount=amount,
        method="card",
        payment_method=token,
        payer=Payer(name="Ada Client", email="ada@example.com"),
        **extra,  # type: ignore[arg-type]
    )


def echeck(token: str, amount: int = 10_000, *, accepted: bool = True) -> PaymentRequest:
    return PaymentRequest(
        amount=amount,
        method="echeck",
        payment_method=token,
        payer=Payer(name="Bo Client", email="bo@example.com"),
        authorization_accepted=accepted,
    )
