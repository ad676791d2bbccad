"""Processor reports (verified webhooks): a received payment becomes processed or failed, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from paylinks_events import utcnow
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from ..domain.payment import Payment
from ..store import attempts, webhooks
from .errors import NotFound, NotYetRecorded


@dataclass(frozen=True)
class ProcessorReport:
    webhook_id: str
    type: Literal["payment.succeeded", "payment.failed"]
    payment_id: str
    reason: str | None = None


async def apply_report(writer: Writer, report: ProcessorReport) -> bool:
    """Apply a report; False when its webhook id was applied before (a redelivery: no second effect).

    An unknown payment raises NotFound and records nothing, so the processor's retry can still apply it.
    """

    async def command(uow: UnitOfWork) -> bool:
        if not await webhooks.first_delivery(uow.conn, report.webhook_id):
            return False
        payment = await uow.load(Payment, report.payment_id)
        if not payment.exists:
            attempt = await attempts.find(uow.conn, report.payment_id)
            if attempt is not None and attempt.state == "charging":
                raise NotYetRecorded()  # the charge's answer is being recorded: the processor retries
            raise NotFound("payment")
        if report.type == "payment.succeeded":
            payment.succeed(utcnow())
        else:
            payment.fail(report.reason or "failed", utcnow())
            await attempts.mark_settled(uow.conn, report.payment_id)
        await uow.save(payment)
        return True

    return await writer.execute(command)
