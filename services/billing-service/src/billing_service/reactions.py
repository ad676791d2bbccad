"""Who in billing reacts to which event: the one place that says so. Runs inside the consumer's batch
transaction (the inbox dedupes on ce_id); other event types are ignored."""

from __future__ import annotations

from collections.abc import Awaitable

from paylinks_events import ContactCreated, Envelope, MatterOpened, PaymentProcessed
from paylinks_runtime.reactions import Reactions
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from .commands import settle_payment
from .directory import record_contact, record_matter
from .tables import PostgresBillingTables

CONSUMER_NAME = "billing-service"
REACTIONS: Reactions[UnitOfWork, Awaitable[None]] = Reactions(CONSUMER_NAME)


@REACTIONS.on(ContactCreated)
async def _contact_created(uow: UnitOfWork, event: ContactCreated) -> None:
    await record_contact(uow.conn, event)


@REACTIONS.on(MatterOpened)
async def _matter_opened(uow: UnitOfWork, event: MatterOpened) -> None:
    await record_matter(uow.conn, event)


@REACTIONS.on(PaymentProcessed)
async def _payment_processed(uow: UnitOfWork, event: PaymentProcessed) -> None:
    if event.bill_id is not None:  # payments not for a bill are reconciliation's to link
        await settle_payment(uow.with_tables(PostgresBillingTables), event)


async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
    await REACTIONS.react(uow, envelope.event)


CONSUMER = ConsumerSpec(name=REACTIONS.name, topics=REACTIONS.topics, handler=handle)
