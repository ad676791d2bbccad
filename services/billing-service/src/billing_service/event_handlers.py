"""What the billing consumer does with each event of practice.events and payment.events. Runs inside the
consumer's batch transaction (the inbox dedupes on ce_id); other event types are ignored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from paylinks_events import ContactCreated, Envelope, Event, MatterOpened, PaymentProcessed, Topic
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from .commands import settle_payment
from .directory import record_contact, record_matter
from .tables import PostgresBillingTables

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
        await settle_payment(uow.with_tables(PostgresBillingTables), event)


_HANDLERS: dict[type[Event], Callable[[UnitOfWork, Any], Awaitable[None]]] = {
    ContactCreated: _contact_created,
    MatterOpened: _matter_opened,
    PaymentProcessed: _payment_processed,
}

CONSUMER = ConsumerSpec(name=CONSUMER_NAME, topics=(Topic.PRACTICE, Topic.PAYMENT), handler=handle)
