"""Who in billing reacts to which event: the one place that says so. Runs inside the consumer's batch
transaction (the inbox dedupes on ce_id); other event types are ignored."""

from __future__ import annotations

from collections.abc import Awaitable

from paylinks_events import (
    BillLinksClosed,
    ContactCreated,
    DisputeClosed,
    Envelope,
    MatterOpened,
    PaymentDisputed,
    PaymentProcessed,
    PaymentReturned,
    RefundSucceeded,
)
from paylinks_runtime.reactions import Reactions
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from . import voids_applied
from .commands import RETURN_KEY, apply_bill_payment, close_dispute, dispute_key, refund_key, reverse_payment
from .directory import record_contact, record_matter
from .domain import Reversal
from .tables import PostgresBillingTables

CONSUMER_NAME = "billing-service"
REACTIONS: Reactions[UnitOfWork, Awaitable[None]] = Reactions(CONSUMER_NAME)


@REACTIONS.on(ContactCreated)
async def _contact_created(uow: UnitOfWork, event: ContactCreated) -> None:
    await record_contact(uow.conn, event)


@REACTIONS.on(MatterOpened)
async def _matter_opened(uow: UnitOfWork, event: MatterOpened) -> None:
    await record_matter(uow.conn, event)


# A void is answered once link-service has applied it (voids_applied.py).
@REACTIONS.on(BillLinksClosed)
async def _bill_links_closed(uow: UnitOfWork, event: BillLinksClosed) -> None:
    await voids_applied.record_closed(uow.conn, event)


@REACTIONS.on(PaymentProcessed)
async def _payment_processed(uow: UnitOfWork, event: PaymentProcessed) -> None:
    if event.bill_id is not None:  # payments not for a bill are reconciliation's to link
        await apply_bill_payment(uow.with_tables(PostgresBillingTables), event)


# Money taken back from a payment billing applied: off its bill (unallocated part first), once each.
@REACTIONS.on(RefundSucceeded)
async def _refund_succeeded(uow: UnitOfWork, e: RefundSucceeded) -> None:
    reversal = Reversal(e.payment_id, "refund", e.amount)
    await reverse_payment(
        uow.with_tables(PostgresBillingTables), e.firm_id, refund_key(e.refund_id), reversal
    )


@REACTIONS.on(PaymentDisputed)
async def _payment_disputed(uow: UnitOfWork, e: PaymentDisputed) -> None:
    reversal = Reversal(e.payment_id, "dispute", e.amount)
    await reverse_payment(
        uow.with_tables(PostgresBillingTables), e.firm_id, dispute_key(e.dispute_id), reversal
    )


@REACTIONS.on(PaymentReturned)
async def _payment_returned(uow: UnitOfWork, e: PaymentReturned) -> None:
    reversal = Reversal(e.payment_id, "return", e.amount)
    await reverse_payment(uow.with_tables(PostgresBillingTables), e.firm_id, RETURN_KEY, reversal)


@REACTIONS.on(DisputeClosed)
async def _dispute_closed(uow: UnitOfWork, e: DisputeClosed) -> None:
    await close_dispute(uow.with_tables(PostgresBillingTables), e)


async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
    await REACTIONS.react(uow, envelope.event)


CONSUMER = ConsumerSpec(name=REACTIONS.name, topics=REACTIONS.topics, handler=handle)
