"""The tables link-service's commands read and write in their own transaction, behind a port per command
family: Postgres in the service, an in-memory fake in the unit tests of the command handlers (the intake's
and the refunds' live beside their SQL: intake_tables.py, refunds.py)."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from paylinks_runtime.unit_of_work import Writer

from ..domain.bank_account import BankAccount
from ..domain.link import Link
from ..domain.pay_target import Bill
from ..domain.payment import Payment
from . import accounts, attempts, bills, firms, links, streams, webhooks
from .attempts import PaymentRead


class LinkTables(Protocol):
    async def insert_account(self, account: BankAccount) -> None: ...

    async def find_bill(self, bill_id: str, firm_id: str) -> Bill | None: ...

    async def token_seed(self, link_id: str) -> bytes | None: ...

    async def insert_link(self, link: Link, *, token_hash: bytes, token_seed: bytes) -> None: ...


class PostgresLinkTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def insert_account(self, account: BankAccount) -> None:
        await accounts.insert(self._conn, account)

    async def find_bill(self, bill_id: str, firm_id: str) -> Bill | None:
        return await bills.find(self._conn, bill_id, firm_id)

    async def token_seed(self, link_id: str) -> bytes | None:
        return await links.token_seed(self._conn, link_id)

    async def insert_link(self, link: Link, *, token_hash: bytes, token_seed: bytes) -> None:
        await links.insert(self._conn, link, token_hash=token_hash, token_seed=token_seed)


class FirmTables(Protocol):
    async def account_kind(self, bank_account_id: str, firm_id: str) -> str | None:
        """'trust' or 'operating', or None when the firm has no such account."""
        ...

    async def upsert_firm(
        self,
        firm_id: str,
        display_name: str,
        fee_bank_account_id: str | None,
        minimum_payment_amount: int | None,
    ) -> None: ...


class PostgresFirmTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def account_kind(self, bank_account_id: str, firm_id: str) -> str | None:
        return await accounts.kind_for_firm(self._conn, bank_account_id, firm_id)

    async def upsert_firm(
        self,
        firm_id: str,
        display_name: str,
        fee_bank_account_id: str | None,
        minimum_payment_amount: int | None,
    ) -> None:
        await firms.upsert(self._conn, firm_id, display_name, fee_bank_account_id, minimum_payment_amount)


class ReportTables(Protocol):
    """What recording the processor's webhooks reads and writes beside the event streams."""

    async def first_delivery(self, webhook_id: str) -> bool:
        """Record the webhook id; False when it was applied before."""
        ...

    async def stream_type(self, stream_id: str) -> str | None: ...

    async def read_payment(self, payment_id: str) -> PaymentRead: ...

    async def charge_fee_account(self, payment_id: str) -> str | None:
        """The operating account the payment's charge named for its fees."""
        ...

    async def settle_attempt(self, payment_id: str) -> None:
        """The payment no longer counts against its bill (it failed)."""
        ...

    async def account_firm(self, bank_account_id: str) -> str | None: ...

    async def account_kind(self, bank_account_id: str, firm_id: str) -> str | None:
        """'trust' or 'operating', or None when the firm has no such account."""
        ...


class PostgresReportTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def first_delivery(self, webhook_id: str) -> bool:
        return await webhooks.first_delivery(self._conn, webhook_id)

    async def stream_type(self, stream_id: str) -> str | None:
        return await streams.stream_type(self._conn, stream_id)

    async def read_payment(self, payment_id: str) -> PaymentRead:
        return await attempts.find_with_stream(self._conn, payment_id)

    async def charge_fee_account(self, payment_id: str) -> str | None:
        return await attempts.fee_account(self._conn, payment_id)

    async def settle_attempt(self, payment_id: str) -> None:
        await attempts.mark_settled(self._conn, payment_id)

    async def account_firm(self, bank_account_id: str) -> str | None:
        return await accounts.firm_of(self._conn, bank_account_id)

    async def account_kind(self, bank_account_id: str, firm_id: str) -> str | None:
        return await accounts.kind_for_firm(self._conn, bank_account_id, firm_id)


class ReportLedger(Protocol):
    """Outside any transaction, each call one atomic statement: the common report in two (see
    processor_reports._record_at_once)."""

    async def read_payment(self, payment_id: str) -> PaymentRead: ...

    async def save_first(self, payment: Payment, webhook_id: str) -> bool:
        """The payment's new events saved with the webhook id; False (nothing saved) when the id was recorded
        before. Raises ConcurrencyError when the payment moved since it was read."""
        ...


class PostgresReportLedger:
    """Each call on a pooled connection of its own, in no transaction but its statement's."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer  # its pool for the read, and `save_when` for the events

    async def read_payment(self, payment_id: str) -> PaymentRead:
        async with self._writer.pool.acquire() as conn:
            return await attempts.find_with_stream(conn, payment_id)

    async def save_first(self, payment: Payment, webhook_id: str) -> bool:
        return await self._writer.save_when(payment, webhooks.FIRST_DELIVERY, webhook_id)


def link_writer(writer: Writer) -> Writer[LinkTables]:
    """The runtime's writer, its units of work showing link-service's tables."""
    return writer.with_tables(PostgresLinkTables)


def firm_writer(writer: Writer) -> Writer[FirmTables]:
    return writer.with_tables(PostgresFirmTables)


def report_writer(writer: Writer) -> Writer[ReportTables]:
    return writer.with_tables(PostgresReportTables)
