"""The tables billing's commands read and write in their own transaction, behind one port: Postgres in the
service, an in-memory fake in the unit tests of the command handlers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import asyncpg

from paylinks_events import Event, PaymentProcessed
from paylinks_runtime.unit_of_work import Writer

from . import read_model, unmatched_payments
from .directory import check_parties


class BillingTables(Protocol):
    async def check_parties(self, firm_id: str, matter_id: str, contact_id: str) -> None:
        """Raise UnknownParty for a matter or contact this firm does not have here."""
        ...

    async def project(self, events: Iterable[Event]) -> None:
        """Bring the bills read model up to date with saved events."""
        ...

    async def remember_unmatched(self, payment: PaymentProcessed) -> bool:
        """Record a payment for no bill of ours; False if it was recorded before (a re-published copy)."""
        ...


class PostgresBillingTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def check_parties(self, firm_id: str, matter_id: str, contact_id: str) -> None:
        await check_parties(self._conn, firm_id, matter_id, contact_id)

    async def project(self, events: Iterable[Event]) -> None:
        await read_model.project(self._conn, events)

    async def remember_unmatched(self, payment: PaymentProcessed) -> bool:
        return await unmatched_payments.remember(self._conn, payment)


def billing_writer(writer: Writer) -> Writer[BillingTables]:
    """The runtime's writer, its units of work showing billing's tables."""
    return writer.with_tables(PostgresBillingTables)
