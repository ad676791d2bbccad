"""The read model reconciliation's commands consult and update in their own transaction, behind one port:
Postgres in the service, an in-memory fake in the unit tests of the command handlers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import asyncpg

from paylinks_events import Envelope
from paylinks_runtime.auth import PaymentGrant
from paylinks_runtime.unit_of_work import Writer

from . import grants, projection_store, queries
from .domain import LinkTarget, PaymentRef, TargetRequest

Row = Mapping[str, Any]


class ReconciliationTables(Protocol):
    async def hold_read_model(self) -> None:
        """Keep a rebuild from swapping the read model until this transaction ends."""
        ...

    async def payment_status(self, ref: PaymentRef) -> str | None:
        """pending, processed or failed; None when the firm has no such payment."""
        ...

    async def resolve_target(self, firm_id: str, request: TargetRequest) -> LinkTarget | None: ...

    async def refund_in_progress(self, ref: PaymentRef) -> bool:
        """A refund of the payment was requested and its outcome is not known yet."""
        ...

    async def spend_grant(self, grant: PaymentGrant) -> None:
        """Spend an emailed grant on this transaction's link action; DomainError if it was spent before."""
        ...

    async def apply(self, envelopes: Iterable[Envelope]) -> None:
        """Project saved events into the read model right away (staff read their own change)."""
        ...

    async def payment(self, ref: PaymentRef) -> Row | None: ...


class PostgresReconciliationTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def hold_read_model(self) -> None:
        await projection_store.hold_read_model_shared(self._conn)

    async def payment_status(self, ref: PaymentRef) -> str | None:
        return await queries.payment_status(self._conn, ref)

    async def resolve_target(self, firm_id: str, request: TargetRequest) -> LinkTarget | None:
        return await queries.resolve_target(self._conn, firm_id, request)

    async def refund_in_progress(self, ref: PaymentRef) -> bool:
        return await queries.refund_in_progress(self._conn, ref)

    async def spend_grant(self, grant: PaymentGrant) -> None:
        await grants.spend(self._conn, grant)

    async def apply(self, envelopes: Iterable[Envelope]) -> None:
        await projection_store.apply(self._conn, envelopes)

    async def payment(self, ref: PaymentRef) -> Row | None:
        row: Row | None = await queries.payment(self._conn, ref)
        return row


def reconciliation_writer(writer: Writer) -> Writer[ReconciliationTables]:
    """The runtime's writer, its units of work showing reconciliation's read model."""
    return writer.with_tables(PostgresReconciliationTables)
