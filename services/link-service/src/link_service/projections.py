"""The bills view, from billing.events; voiding or paying a bill revokes its links. A payment billing has
applied (or left unallocated) stops counting as pending against the balance, in the same transaction
that lowers the balance: the balance due is never counted twice nor left uncounted."""

from __future__ import annotations

from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillVoided,
    Envelope,
    PaymentUnallocated,
    utcnow,
)
from paylinks_runtime.unit_of_work import UnitOfWork

from .domain.link import Link, RevokeReason
from .domain.pay_target import Bill
from .store import attempts, bills, links


async def on_billing_event(uow: UnitOfWork, envelope: Envelope) -> None:
    """Inbox-consumer handler for billing.events (each event once; other types are ignored)."""
    event = envelope.event
    if isinstance(event, BillIssued):
        bill = Bill(event.bill_id, event.firm_id, event.amount, event.amount, event.currency, "open")
        await bills.issued(uow.conn, bill)
    elif isinstance(event, BillPaymentApplied):
        await bills.balance_changed(uow.conn, event.bill_id, event.balance)
        await attempts.mark_settled(uow.conn, event.payment_id)
    elif isinstance(event, PaymentUnallocated):
        await attempts.mark_settled(uow.conn, event.payment_id)
    elif isinstance(event, BillVoided):
        await bills.settled(uow.conn, event.bill_id, "void")
        await _revoke_links(uow, event.bill_id, "bill_voided")
    elif isinstance(event, BillPaid):
        await bills.settled(uow.conn, event.bill_id, "paid")
        await _revoke_links(uow, event.bill_id, "bill_paid")


async def _revoke_links(uow: UnitOfWork, bill_id: str, reason: RevokeReason) -> None:
    for link_id in await links.open_links_of_bill(uow.conn, bill_id):
        link = await uow.load(Link, link_id)
        link.revoke(reason, utcnow())
        await uow.save(link)
        await links.revoked(uow.conn, link_id, reason)
