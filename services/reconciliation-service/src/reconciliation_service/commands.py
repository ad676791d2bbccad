"""Command handlers: link and unlink a payment. Each runs in one transaction: load the payment-link
aggregate, decide, save its events (event store + outbox) and apply them to the read model right away,
so the staff's next read sees the change (the same events come back from reconciliation.events and are
applied again harmlessly)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.auth import PaymentGrant
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from . import grants, projection_store, queries
from .domain import PaymentLink, PaymentRef, TargetRequest


async def link_payment(
    writer: Writer, ref: PaymentRef, request: TargetRequest, by: str, grant: PaymentGrant | None = None
) -> asyncpg.Record:
    """Link the payment to a matter or contact; the payment as it is afterwards. With an emailed `grant`,
    the grant is spent in the same transaction: one link action per grant, whatever the races."""

    async def command(uow: UnitOfWork) -> asyncpg.Record:
        if grant is not None:
            await grants.spend(uow.conn, grant)
        aggregate, status = await _load(uow, ref)
        target = await queries.resolve_target(uow.conn, ref.firm_id, request)
        aggregate.link(ref, status, request, target, by, datetime.now(UTC))
        return await _save_and_project(uow, aggregate, ref)

    return await writer.execute(command)


async def unlink_payment(writer: Writer, ref: PaymentRef, reason: str, by: str) -> asyncpg.Record:

    async def command(uow: UnitOfWork) -> asyncpg.Record:
        aggregate, _ = await _load(uow, ref)
        aggregate.unlink(ref, reason, by, datetime.now(UTC))
        return await _save_and_project(uow, aggregate, ref)

    return await writer.execute(command)


async def _load(uow: UnitOfWork, ref: PaymentRef) -> tuple[PaymentLink, str]:
    await projection_store.hold_read_model_shared(uow.conn)
    status = await queries.payment_status(uow.conn, ref)
    if status is None:
        raise DomainError("payment_not_found", "payment not found")
    return await uow.load(PaymentLink, PaymentLink.stream_id(ref)), status


async def _save_and_project(uow: UnitOfWork, aggregate: PaymentLink, ref: PaymentRef) -> asyncpg.Record:
    envelopes = await uow.save(aggregate)
    await projection_store.apply(uow.conn, envelopes)
    row = await queries.payment(uow.conn, ref)
    assert row is not None
    return row
