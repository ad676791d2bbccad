"""Processed payments that name a bill this service does not hold for the payment's firm.

Bill ids are minted here and a bill is committed before its BillIssued leaves the outbox, so no payment
can legitimately arrive before its bill: such a payment names a bill that will never exist here (another
firm's, a foreign or corrupt id). It is therefore unallocated at once, the whole amount, so reconciliation
shows it to staff; it is remembered by payment_id so that a re-published copy has no second effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import structlog

from paylinks_events import PaymentProcessed, PaymentUnallocated, utcnow
from paylinks_runtime.unit_of_work import AbstractUnitOfWork

if TYPE_CHECKING:
    from .tables import BillingTables

log = structlog.get_logger(__name__)


async def unallocate_unmatched(uow: AbstractUnitOfWork[BillingTables], payment: PaymentProcessed) -> None:
    if not await uow.tables.remember_unmatched(payment):
        return
    log.warning(
        "payment for an unknown bill left unallocated",
        payment_id=payment.payment_id,
        bill_id=payment.bill_id,
        firm_id=payment.firm_id,
    )
    await uow.publish(
        PaymentUnallocated(
            bill_id=str(payment.bill_id),
            firm_id=payment.firm_id,
            payment_id=payment.payment_id,
            amount=payment.amount,
            currency=payment.currency,
            reason="overpayment",
            unallocated_at=utcnow(),
        )
    )


async def remember(conn: asyncpg.Connection, payment: PaymentProcessed) -> bool:
    """Record the payment; False if it was recorded before (a re-published copy)."""
    inserted = await conn.fetchval(
        "INSERT INTO unmatched_payments (payment_id, firm_id, bill_id, amount, currency, processed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (payment_id) DO NOTHING RETURNING 1",
        payment.payment_id,
        payment.firm_id,
        payment.bill_id,
        payment.amount,
        payment.currency,
        payment.processed_at,
    )
    return inserted is not None
