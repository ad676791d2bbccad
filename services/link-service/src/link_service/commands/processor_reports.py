"""The processor's verified webhooks, recorded as the contract's events on payment.events and payout.events.

Each webhook id has one effect. A report about something this service does not have (another stream type,
another firm, a refund it never asked for) or that changes nothing is "ignored". One that comes before what
it follows (the charge's answer not recorded yet, a dispute closed before it was opened) raises, records
nothing, and is answered 409: the processor delivers it again, and it applies in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import structlog

from paylinks_events import utcnow
from paylinks_events.models import PayoutLine
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from ..domain.payment import DisputeReport, OutOfOrder, Payment
from ..domain.payout import Payout
from ..processor import webhook_events as wh
from ..store.attempts import Attempt, PaymentRead
from ..store.tables import ReportLedger, ReportTables

UnitOfWork = AbstractUnitOfWork[ReportTables]
Writer = AbstractWriter[ReportTables]
log = structlog.get_logger(__name__)
# The contract's two answers: a repeat of a delivered id changes nothing, so it is "ignored" like any other
# report that changes nothing (the log line says which).
Result = Literal["applied", "ignored"]


async def record_report(
    writer: Writer, ledger: ReportLedger, webhook: wh.Webhook, data: wh.ReportData | None
) -> Result:
    if isinstance(data, wh.PaymentData) and webhook.type != "payment.failed":  # a failure writes more
        recorded = await _record_at_once(ledger, webhook, data)
        if recorded is not None:
            return recorded

    async def command(uow: UnitOfWork) -> Result:
        if not await uow.tables.first_delivery(webhook.id):
            log.info("processor webhook already recorded", webhook_id=webhook.id, webhook_type=webhook.type)
            return "ignored"
        if isinstance(data, wh.PayoutData):
            return "applied" if await _payout(uow, data) else "ignored"
        if isinstance(data, wh.PaymentData):
            return "applied" if await _payment_report(uow, webhook.type, data) else "ignored"
        return "ignored"  # a type this service has no use for

    return await writer.execute(command)


async def _record_at_once(ledger: ReportLedger, webhook: wh.Webhook, data: wh.PaymentData) -> Result | None:
    """The common report (a charge settled, returned, disputed, refunded) in two statements and no
    transaction, where a unit of work takes five round trips: the payment read with its attempt (one
    snapshot), then its new events saved with the webhook id, one statement that keeps nothing when the id
    was recorded before or the payment moved since the read. None when the unit of work decides: a payment
    this service did not take or not charged yet, a report that changes nothing or is out of order, a
    payment that moved."""
    read = await ledger.read_payment(data.payment_id)
    if read.attempt is None or read.attempt.charge is None:
        return None  # no charge of intake's names the fee account
    fee_account = read.attempt.charge.fee_bank_account_id
    try:
        payment = _reported_payment(read, data)
        if payment is None:
            return None
        if not _apply(payment, webhook.type, data, fee_account, utcnow()):
            return None
        if await ledger.save_first(payment, webhook.id):
            return "applied"
    except (OutOfOrder, ConcurrencyError):
        return None
    log.info("processor webhook already recorded", webhook_id=webhook.id, webhook_type=webhook.type)
    return "ignored"


async def _payment_report(uow: UnitOfWork, kind: str, data: wh.PaymentData) -> bool:
    attempt, payment = await _payment(uow, data)
    if payment is None:
        return False
    now = utcnow()
    changed = _apply(payment, kind, data, await _fee_account(uow, payment, attempt, data), now)
    if changed:
        await uow.save(payment)
        if kind == "payment.failed":
            await uow.tables.settle_attempt(payment.id)  # no longer counts against the bill
    return changed


def _apply(payment: Payment, kind: str, data: wh.PaymentData, fee_account: str, now: datetime) -> bool:
    if isinstance(data, wh.PaymentSucceeded):
        return payment.succeed(fee=data.fee, fee_id=data.fee_id, fee_account=fee_account, now=now)
    if isinstance(data, wh.PaymentFailedData):
        return payment.fail(data.reason, now)
    if isinstance(data, wh.PaymentReturnedData):
        return payment.return_by_bank(data.reason, now)
    if isinstance(data, wh.DisputeCreated):
        report = DisputeReport(
            data.dispute_id, data.amount, data.reason, data.evidence_due_by, data.fee, data.fee_id
        )
        return payment.dispute(report, fee_account, now)
    if isinstance(data, wh.DisputeClosedData):
        return payment.close_dispute(
            data.dispute_id, data.outcome, (data.fee_id, data.fee_refund), fee_account, now
        )
    if isinstance(data, wh.RefundData) and kind == "refund.succeeded":
        return payment.refund_succeeded(data.refund_id, now)
    if isinstance(data, wh.RefundData):
        return payment.refund_failed(data.refund_id, data.reason or "failed", now)
    return False


async def _fee_account(
    uow: UnitOfWork, payment: Payment, attempt: Attempt | None, data: wh.PaymentData
) -> str:
    """The operating account the charge named for its fees; else the one the processor says it used, if it is
    one of the firm's operating accounts. A fee is never recorded on a trust account: a report naming one
    counts as naming none (recorded nothing, 409), which never happens for a payment taken here.
    The charge is the attempt's, read in this transaction already (no second read of the same row)."""
    if attempt is not None and attempt.charge is not None:
        named: str | None = attempt.charge.fee_bank_account_id
    else:
        named = await uow.tables.charge_fee_account(payment.id)
    if named is not None:
        return named
    reported = getattr(data, "fee_bank_account_id", None)
    firm_id = payment.received.firm_id if payment.received else None
    if reported is None or firm_id is None:
        raise OutOfOrder("no fee account is known for this payment")
    if await uow.tables.account_kind(str(reported), firm_id) == "operating":
        return str(reported)
    raise OutOfOrder("no operating fee account is known for this payment")


async def _payment(uow: UnitOfWork, data: wh.PaymentData) -> tuple[Attempt | None, Payment | None]:
    """The payment's attempt (None for a payment not taken by intake), and the payment the report is about
    (`_reported_payment`), read in the unit of work."""
    read = await uow.tables.read_payment(data.payment_id)
    return read.attempt, _reported_payment(read, data)


def _reported_payment(read: PaymentRead, data: wh.PaymentData) -> Payment | None:
    """The payment the report is about: None when this service has no such payment (or not this firm's).

    Its attempt, stream type and events come from one statement (one snapshot): intake records the
    payment's stream and the attempt's end in one transaction, which used to commit between two statements
    here; a report that then saw no stream, then an attempt no longer charging, was ignored and the payment
    never processed (the chaos suite lost a few in a thousand that way). An attempt still charging is out
    of order whatever the stream says."""
    if read.attempt is not None and read.attempt.state == "charging":
        raise OutOfOrder("the payment's charge is still being recorded")
    if read.stream_type != Payment.stream_type:
        return None
    payment = Payment.replay(data.payment_id, read.events)
    received = payment.received
    if received is None or (data.firm_id and data.firm_id != received.firm_id):
        return None
    return payment


async def _payout(uow: UnitOfWork, data: wh.PayoutData) -> bool:
    firm_id = await uow.tables.account_firm(data.bank_account_id)
    if firm_id is None or (data.firm_id and data.firm_id != firm_id):
        return False
    if await uow.tables.stream_type(data.payout_id) not in (None, Payout.stream_type):
        return False
    payout = await uow.load(Payout, data.payout_id)
    lines = tuple(PayoutLine(**line.model_dump()) for line in data.lines)
    changed = payout.pay(
        firm_id=firm_id,
        bank_account_id=data.bank_account_id,
        amount=data.amount,
        currency=data.currency,
        arrival_date=data.arrival_date,
        lines=lines,
    )
    if changed:
        await uow.save(payout)
    return changed
