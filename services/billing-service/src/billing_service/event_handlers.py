"""What the billing consumer does with each event of practice.events and payment.events. Runs inside the
consumer's batch transaction (the inbox dedupes on ce_id); other event types are ignored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from paylinks_events import (
    ContactCreated,
    DisputeClosed,
    Envelope,
    Event,
    MatterOpened,
    PaymentDisputed,
    PaymentProcessed,
    PaymentReturned,
    RefundSucceeded,
    Topic,
)
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from .commands import RETURN_KEY, close_dispute, dispute_key, refund_key, reverse_payment, settle_payment
from .directory import record_contact, record_matter
from .domain import Reversal

CONSUMER_NAME = "billing-service"


async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
    handler = _HANDLERS.get(type(envelope.event))
    if handler is not None:
        await handler(uow, envelope.event)


async def _contact_created(uow: UnitOfWork, event: Any) -> None:
    await record_contact(uow.conn, event)


async def _matter_opened(uow: UnitOfWork, event: Any) -> None:
    await record_matter(uow.conn, event)


async def _payment_processed(uow: UnitOfWork, event: Any) -> None:
    if event.bill_id is not None:  # payments not for a bill are reconciliation's to link
        await settle_payment(uow, event)


async def _refund_succeeded(uow: UnitOfWork, e: RefundSucceeded) -> None:
    reversal = Reversal(e.payment_id, "refund", e.amount)
    await reverse_payment(uow, e.firm_id, refund_key(e.refund_id), reversal)


async def _payment_disputed(uow: UnitOfWork, e: PaymentDisputed) -> None:
    reversal = Reversal(e.payment_id, "dispute", e.amount)
    await reverse_payment(uow, e.firm_id, dispute_key(e.dispute_id), reversal)


async def _payment_returned(uow: UnitOfWork, e: PaymentReturned) -> None:
    await reverse_payment(uow, e.firm_id, RETURN_KEY, Reversal(e.payment_id, "return", e.amount))


async def _dispute_closed(uow: UnitOfWork, e: DisputeClosed) -> None:
    await close_dispute(uow, e)


_HANDLERS: dict[type[Event], Callable[[UnitOfWork, Any], Awaitable[None]]] = {
    ContactCreated: _contact_created,
    MatterOpened: _matter_opened,
    PaymentProcessed: _payment_processed,
    RefundSucceeded: _refund_succeeded,
    PaymentDisputed: _payment_disputed,
    PaymentReturned: _payment_returned,
    DisputeClosed: _dispute_closed,
}

CONSUMER = ConsumerSpec(name=CONSUMER_NAME, topics=(Topic.PRACTICE, Topic.PAYMENT), handler=handle)
