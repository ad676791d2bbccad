"""Who in link-service reacts to which event: the bills view, from billing.events; voiding or paying a bill
revokes its links, and a payment reversed on a paid bill (refund, dispute, return) reopens the links that
paying it had revoked. A payment billing has applied (or left unallocated) stops counting as pending against
the balance, in the same transaction that lowers the balance: the balance due is never counted twice nor
left uncounted. Runs in the inbox consumer's transaction (each event once; other types are ignored)."""

from __future__ import annotations

from collections.abc import Awaitable

from paylinks_events import (
    BillIssued,
    BillLinksClosed,
    BillPaid,
    BillPaymentApplied,
    BillPaymentReversed,
    BillVoided,
    Envelope,
    PaymentUnallocated,
    utcnow,
)
from paylinks_runtime.reactions import Reactions
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from .domain.link import Link, RevokeReason
from .domain.pay_target import Bill
from .store import attempts, bills, links

REACTIONS: Reactions[UnitOfWork, Awaitable[None]] = Reactions("link-service")


@REACTIONS.on(BillIssued)
async def _bill_issued(uow: UnitOfWork, event: BillIssued) -> None:
    bill = Bill(event.bill_id, event.firm_id, event.amount, event.amount, event.currency, "open")
    await bills.issued(uow.conn, bill)


@REACTIONS.on(BillPaymentApplied)
async def _bill_payment_applied(uow: UnitOfWork, event: BillPaymentApplied) -> None:
    await bills.balance_changed(uow.conn, event.bill_id, event.balance)
    await attempts.mark_settled(uow.conn, event.payment_id)


@REACTIONS.on(BillPaymentReversed)
async def _bill_payment_reversed(uow: UnitOfWork, event: BillPaymentReversed) -> None:
    """The balance goes back up; a paid bill's links take payment again (revoked only in the links table:
    the contract has no "link reopened" event, see Link.reopen). The bill paid again revokes them again."""
    if await bills.reversed_payment(uow.conn, event.bill_id, event.balance):
        await links.reopen_paid_links(uow.conn, event.bill_id)


@REACTIONS.on(PaymentUnallocated)
async def _payment_unallocated(uow: UnitOfWork, event: PaymentUnallocated) -> None:
    await attempts.mark_settled(uow.conn, event.payment_id)


@REACTIONS.on(BillVoided)
async def _bill_voided(uow: UnitOfWork, event: BillVoided) -> None:
    """The bill closed and its links revoked, then said in the same transaction (BillLinksClosed, even of no
    link): billing answers the void on that, so no payment is accepted after the void's answer."""
    await bills.close(uow.conn, event.bill_id, "void")
    revoked = await _revoke_links(uow, event.bill_id, "bill_voided")
    closed = BillLinksClosed(
        firm_id=event.firm_id, bill_id=event.bill_id, links_revoked=revoked, closed_at=utcnow()
    )
    await uow.publish(closed)


@REACTIONS.on(BillPaid)
async def _bill_paid(uow: UnitOfWork, event: BillPaid) -> None:
    await bills.close(uow.conn, event.bill_id, "paid")
    await _revoke_links(uow, event.bill_id, "bill_paid")


async def _revoke_links(uow: UnitOfWork, bill_id: str, reason: RevokeReason) -> int:
    """Revoke the bill's open links; returns how many."""
    link_ids = await links.open_links_of_bill(uow.conn, bill_id)
    for link_id in link_ids:
        link = await uow.load(Link, link_id)
        link.reopen()  # the table shows it open: a `bill_paid` revocation on its stream was lifted since
        link.revoke(reason, utcnow())
        await uow.save(link)
        await links.revoked(uow.conn, link_id, reason)
    return len(link_ids)


async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
    await REACTIONS.react(uow, envelope.event)


CONSUMER = ConsumerSpec(name=REACTIONS.name, topics=REACTIONS.topics, handler=handle)
