"""The tables billing's commands read and write in their own transaction, behind one port: Postgres in the
service, an in-memory fake in the unit tests of the command handlers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

import asyncpg

from paylinks_events import Event, PaymentProcessed
from paylinks_runtime.unit_of_work import Writer

from . import payment_reversals, read_model, unmatched_payments
from .directory import check_parties
from .domain import Reversal, ReversalTaken
from .payment_reversals import BilledPayment, DisputeOutcome, RecordedReversal


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

    async def remember_bill(self, firm_id: str, payment_id: str, bill_id: str, currency: str) -> None:
        """Which bill the payment applied to: reversal events name only the payment."""
        ...

    async def billed_payment(self, firm_id: str, payment_id: str) -> BilledPayment | None:
        """The bill this firm's payment applied to (locked for this transaction); None if none."""
        ...

    async def find_reversal(self, payment_id: str, key: str) -> RecordedReversal | None: ...

    async def unallocated_taken(self, payment_id: str) -> int:
        """What the payment's reversals took from its unallocated part and still hold."""
        ...

    async def record_reversal(
        self,
        key: str,
        reversal: Reversal,
        taken: ReversalTaken,
        now: datetime,
        closed_outcome: DisputeOutcome | None,
    ) -> None: ...

    async def close_dispute(self, payment_id: str, key: str, outcome: DisputeOutcome) -> None: ...


class PostgresBillingTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def check_parties(self, firm_id: str, matter_id: str, contact_id: str) -> None:
        await check_parties(self._conn, firm_id, matter_id, contact_id)

    async def project(self, events: Iterable[Event]) -> None:
        await read_model.project(self._conn, events)

    async def remember_unmatched(self, payment: PaymentProcessed) -> bool:
        return await unmatched_payments.remember(self._conn, payment)

    async def remember_bill(self, firm_id: str, payment_id: str, bill_id: str, currency: str) -> None:
        await payment_reversals.remember_bill(self._conn, firm_id, payment_id, bill_id, currency)

    async def billed_payment(self, firm_id: str, payment_id: str) -> BilledPayment | None:
        return await payment_reversals.billed_payment(self._conn, firm_id, payment_id)

    async def find_reversal(self, payment_id: str, key: str) -> RecordedReversal | None:
        return await payment_reversals.find(self._conn, payment_id, key)

    async def unallocated_taken(self, payment_id: str) -> int:
        return await payment_reversals.unallocated_taken(self._conn, payment_id)

    async def record_reversal(
        self,
        key: str,
        reversal: Reversal,
        taken: ReversalTaken,
        now: datetime,
        closed_outcome: DisputeOutcome | None,
    ) -> None:
        await payment_reversals.record(self._conn, key, reversal, taken, now, closed_outcome)

    async def close_dispute(self, payment_id: str, key: str, outcome: DisputeOutcome) -> None:
        await payment_reversals.close_dispute(self._conn, payment_id, key, outcome)


def billing_writer(writer: Writer) -> Writer[BillingTables]:
    """The runtime's writer, its units of work showing billing's tables."""
    return writer.with_tables(PostgresBillingTables)
