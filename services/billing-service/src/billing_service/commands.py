"""Commands on bills: load the aggregate, let it decide, save its events (outbox and read model in the
same transaction). A lost optimistic-concurrency race surfaces as ConcurrencyError; `Writer.execute`
(or, inside the consumer, its batch retry) then runs the command again on the fresh stream."""

from __future__ import annotations

import uuid

from paylinks_events import PaymentProcessed, utcnow
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from .domain import Bill, BillTerms
from .metrics import BILL_WRITE_CONFLICTS
from .tables import BillingTables
from .unmatched_payments import unallocate_unmatched

UnitOfWork = AbstractUnitOfWork[BillingTables]
Writer = AbstractWriter[BillingTables]

PAYMENT_ATTEMPTS = 100  # many payments may race on one bill; each retry is one cheap reload


class BillNotFound(Exception):
    """No such bill in the caller's firm (another firm's bill is not revealed either)."""


async def issue_bill(writer: Writer, terms: BillTerms) -> str:
    async def command(uow: UnitOfWork) -> str:
        await uow.tables.check_parties(terms.firm_id, terms.matter_id, terms.contact_id)
        bill = Bill.issue(str(uuid.uuid4()), terms, utcnow())
        await _save(uow, bill)
        return bill.id

    return await writer.execute(command)


async def void_bill(writer: Writer, firm_id: str, bill_id: str) -> None:
    async def command(uow: UnitOfWork) -> None:
        bill = await _load_for_firm(uow, firm_id, bill_id)
        bill.void(utcnow())
        await _save(uow, bill)

    await writer.execute(command)


async def apply_payment(writer: Writer, payment: PaymentProcessed) -> None:
    """Settle a processed payment against its bill in a transaction of its own (an internal channel)."""
    await writer.execute(lambda uow: settle_payment(uow, payment), attempts=PAYMENT_ATTEMPTS)


async def settle_payment(uow: UnitOfWork, payment: PaymentProcessed) -> None:
    """Settle a processed bill payment in the caller's transaction; once per payment_id."""
    assert payment.bill_id is not None, "only bill payments are settled against a bill"
    try:
        bill = await _load_for_firm(uow, payment.firm_id, payment.bill_id)
    except BillNotFound:
        await unallocate_unmatched(uow, payment)
        return
    bill.settle(payment, utcnow())
    await _save(uow, bill)


async def _load_for_firm(uow: UnitOfWork, firm_id: str, bill_id: str) -> Bill:
    bill = await uow.load(Bill, bill_id)
    if not bill.exists or bill.firm_id != firm_id:
        raise BillNotFound(bill_id)
    return bill


async def _save(uow: UnitOfWork, bill: Bill) -> None:
    try:
        envelopes = await uow.save(bill)
    except ConcurrencyError:
        BILL_WRITE_CONFLICTS.inc()
        raise
    await uow.tables.project(e.event for e in envelopes)
