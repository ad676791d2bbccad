"""The notifier's one command: who gets a firm's payment emails. Runs in a unit of work on a port to the
recipients tables (Postgres in the service, an in-memory fake in its unit tests)."""

from __future__ import annotations

from typing import Protocol

import asyncpg

from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter, Writer

from . import store


class UnknownBankAccount(Exception):
    """The firm has no such bank account (another firm's is not revealed either)."""


class RecipientTables(Protocol):
    async def bank_account_known(self, firm_id: str, bank_account_id: str) -> bool: ...

    async def set_recipients(self, firm_id: str, bank_account_id: str | None, emails: list[str]) -> None:
        """Replace a group's list; an empty list removes the group (the firm's group then applies)."""
        ...


class PostgresRecipientTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def bank_account_known(self, firm_id: str, bank_account_id: str) -> bool:
        return await store.bank_account_known(self._conn, firm_id, bank_account_id)

    async def set_recipients(self, firm_id: str, bank_account_id: str | None, emails: list[str]) -> None:
        await store.set_recipients(self._conn, firm_id, bank_account_id, emails)


def recipients_writer(writer: Writer) -> Writer[RecipientTables]:
    return writer.with_tables(PostgresRecipientTables)


async def set_recipients(
    writer: AbstractWriter[RecipientTables], firm_id: str, bank_account_id: str | None, emails: list[str]
) -> list[str]:
    """Set the firm's (bank_account_id None) or one bank account's group; the list as kept."""
    distinct = _distinct(emails)

    async def command(uow: AbstractUnitOfWork[RecipientTables]) -> None:
        if bank_account_id is not None and not await uow.tables.bank_account_known(firm_id, bank_account_id):
            raise UnknownBankAccount(bank_account_id)
        await uow.tables.set_recipients(firm_id, bank_account_id, distinct)

    await writer.execute(command)
    return distinct


def _distinct(emails: list[str]) -> list[str]:
    """Each address once, compared without case, in the order given."""
    seen: set[str] = set()
    distinct = []
    for email in emails:
        if email.lower() not in seen:
            seen.add(email.lower())
            distinct.append(email)
    return distinct
