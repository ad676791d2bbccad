"""Command handlers: link and unlink a payment. Each runs in one transaction: load the payment-link
aggregate, decide, save its events (event store + outbox) and apply them to the read model right away,
so the staff's next read sees the change (the same events come back from reconciliation.events and are
applied again harmlessly)."""

from __future__ import annotations

from datetime import UTC, datetime

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.auth import PaymentGrant
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from .domain import PaymentLink, PaymentRef, TargetRequest, require_no_refund_in_progress
from .tables import ReconciliationTables, Row

UnitOfWork = AbstractUnitOfWork[ReconciliationTables]
Writer = AbstractWriter[ReconciliationTables]


async def link_payment(
    writer: Writer, ref: PaymentRef, request: TargetRequest, by: str, grant: PaymentGrant | None = None
) -> Row:
    """Link the payment to a matter or contact; the payment as it is afterwards. With an emailed `grant`,
    the grant is spent in the same transaction: one link action per grant, whatever the races."""

    async def command(uow: UnitOfWork) -> Row:
        if grant is not None:
            await uow.tables.spend_grant(grant)
        aggregate, status = await _load(uow, ref)
        target = await uow.tables.resolve_target(ref.firm_id, request)
        aggregate.link(ref, status, request, target, by, datetime.now(UTC))
        return await _save_and_project(uow, aggregate, ref)

    return await writer.execute(command)


async def unlink_payment(writer: Writer, ref: PaymentRef, reason: str, by: str) -> Row:

    async def command(uow: UnitOfWork) -> Row:
        aggregate, _ = await _load(uow, ref)
        aggregate.unlink(ref, reason, by, datetime.now(UTC))
        return await _save_and_project(uow, aggregate, ref)

    return await writer.execute(command)


async def _load(uow: UnitOfWork, ref: PaymentRef) -> tuple[PaymentLink, str]:
    await uow.tables.hold_read_model()
    status = await uow.tables.payment_status(ref)
    if status is None:
        raise DomainError("payment_not_found", "payment not found")
    require_no_refund_in_progress(await uow.tables.refund_in_progress(ref))
    return await uow.load(PaymentLink, PaymentLink.stream_id(ref)), status


async def _save_and_project(uow: UnitOfWork, aggregate: PaymentLink, ref: PaymentRef) -> Row:
    envelopes = await uow.save(aggregate)
    await uow.tables.apply(envelopes)
    row = await uow.tables.payment(ref)
    assert row is not None
    return row
