"""The tables link-service's link commands read and write in their own transaction, behind one port:
Postgres in the service, an in-memory fake in the unit tests of the command handlers."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from paylinks_runtime.unit_of_work import Writer

from ..domain.bank_account import BankAccount
from ..domain.link import Link
from ..domain.pay_target import Bill
from . import accounts, bills, links


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


def link_writer(writer: Writer) -> Writer[LinkTables]:
    """The runtime's writer, its units of work showing link-service's tables."""
    return writer.with_tables(PostgresLinkTables)
