"""Commands on bills: load the aggregate, let it decide, save its events (outbox and read model in the
same transaction). A lost optimistic-concurrency race surfaces as ConcurrencyError; `Writer.execute`
(or, inside the consumer, its batch retry) then runs the command again on the fresh stream."""

from __future__ import annotations

import uuid

from paylinks_events import DisputeClosed, PaymentProcessed, utcnow
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from .domain import Bill, BillTerms, Reversal
from .metrics import BILL_WRITE_CONFLICTS
from .payment_reversals import BilledPayment, DisputeOutcome
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
    """Apply a processed payment to its bill in a transaction of its own (an internal channel)."""
    await writer.execute(lambda uow: apply_bill_payment(uow, payment), attempts=PAYMENT_ATTEMPTS)


async def apply_bill_payment(uow: UnitOfWork, payment: PaymentProcessed) -> None:
    """Apply a processed bill payment in the caller's transaction; once per payment_id."""
    assert payment.bill_id is not None, "only bill payments are applied to a bill"
    try:
        bill = await _load_for_firm(uow, payment.firm_id, payment.bill_id)
    except BillNotFound:
        await unallocate_unmatched(uow, payment)
        return
    await uow.tables.remember_bill(payment.firm_id, payment.payment_id, bill.id, payment.currency)
    bill.apply_payment(payment, utcnow())
    await _save(uow, bill)


async def reverse_payment(uow: UnitOfWork, firm_id: str, key: str, reversal: Reversal) -> None:
    """Take a refund, an opened dispute or a return off the bill the payment went to; once per `key`."""
    billed = await uow.tables.billed_payment(firm_id, reversal.payment_id)
    if billed is None or await uow.tables.find_reversal(reversal.payment_id, key):
        return  # not a payment of one of our bills, or this reversal was taken already
    await _take(uow, billed, key, reversal)


async def close_dispute(uow: UnitOfWork, event: DisputeClosed) -> None:
    """Won: apply again what the dispute took off the bill. Lost: it stays off. Once per dispute."""
    billed = await uow.tables.billed_payment(event.firm_id, event.payment_id)
    if billed is None:
        return
    key = dispute_key(event.dispute_id)
    opened = await uow.tables.find_reversal(event.payment_id, key)
    if opened is None:  # closed before it was seen open: a lost one still takes the money, a won one nothing
        amount = event.amount if event.outcome == "lost" else 0
        await _take(uow, billed, key, Reversal(event.payment_id, "dispute", amount), event.outcome)
        return
    if opened.closed_outcome is not None:
        return
    await uow.tables.close_dispute(event.payment_id, key, event.outcome)
    if event.outcome == "won":
        bill = await uow.load(Bill, billed.bill_id)
        bill.reapply(event.payment_id, opened.from_bill, billed.currency, utcnow())
        await _save(uow, bill)


def refund_key(refund_id: str) -> str:
    return f"refund:{refund_id}"


def dispute_key(dispute_id: str) -> str:
    return f"dispute:{dispute_id}"


RETURN_KEY = "return"  # a payment is returned by its bank at most once


async def _take(
    uow: UnitOfWork,
    billed: BilledPayment,
    key: str,
    reversal: Reversal,
    closed_outcome: DisputeOutcome | None = None,
) -> None:
    bill = await uow.load(Bill, billed.bill_id)
    already = await uow.tables.unallocated_taken(reversal.payment_id)
    now = utcnow()
    taken = bill.reverse(reversal, already, now)
    await _save(uow, bill)
    await uow.tables.record_reversal(key, reversal, taken, now, closed_outcome)


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
