"""Who in the notifier reacts to which event (inside the inbox transaction): keep the lookups, and put each
payment email in the email outbox. Nothing is sent from here; the sender task does that after this
transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
import structlog

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    BillPaymentApplied,
    DisputeClosed,
    Envelope,
    Event,
    FirmProfileUpdated,
    LinkPaused,
    PaymentDisputed,
    PaymentFailed,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PaymentUnallocated,
    PaymentUnlinked,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)
from paylinks_runtime.reactions import Reactions
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from . import email_outbox, store
from .config import Settings
from .metrics import EMAILS_SKIPPED
from .money_back_notices import MoneyBackEvent
from .notices import referenced_ids
from .payer_notices import PAYER_EVENTS, payer_address
from .routing import NO_RECIPIENTS, RecipientGroup, message_id, route

log = structlog.get_logger(__name__)

NO_RECIPIENTS_CONFIGURED = "no recipients configured"
NO_PAYER_EMAIL = "no payer email known"
STALE = "event older than EMAIL_MAX_EVENT_AGE_HOURS"
PAYER_GROUP = "payer"
EmailedEvent = PaymentReceived | PaymentProcessed | PaymentFailed | MoneyBackEvent
E = TypeVar("E", bound=Event)
Emailed = TypeVar("Emailed", bound=EmailedEvent)


@dataclass(frozen=True)
class Delivered:
    """An event as the consumer took it: the transaction's connection, its envelope and the settings."""

    conn: asyncpg.Connection
    envelope: Envelope
    settings: Settings


REACTIONS: Reactions[Delivered, Awaitable[None]] = Reactions("notifier")


Learn = Callable[[asyncpg.Connection, E], Awaitable[None]]


def learnt(save: Learn[E]) -> Callable[[Delivered, E], Awaitable[None]]:
    """A lookup saved, then the emails held for want of it released (it may be the name they wait for)."""

    async def react(delivered: Delivered, event: E) -> None:
        await save(delivered.conn, event)
        await email_outbox.release_held(delivered.conn, event.firm_id)

    return react


def emailed(learn: Learn[Emailed] | None = None) -> Callable[[Delivered, Emailed], Awaitable[None]]:
    """The event's emails put in the outbox, after what it teaches for the payment's later emails."""

    async def react(delivered: Delivered, event: Emailed) -> None:
        if learn is not None:
            await learn(delivered.conn, event)
        await PaymentEmails(delivered.settings).enqueue(delivered.conn, delivered.envelope, event)

    return react


# Events that only teach us names and amounts; each may complete an email that is waiting for them.
REACTIONS.register(BankAccountRegistered, learnt(store.save_bank_account))
REACTIONS.register(BillIssued, learnt(store.save_bill))
REACTIONS.register(BillPaymentApplied, learnt(store.add_bill_payment))
REACTIONS.register(PaymentUnallocated, learnt(store.add_unallocated))
REACTIONS.register(FirmProfileUpdated, learnt(store.save_firm))
REACTIONS.register(RefundRequested, learnt(store.save_refund))

# The events that are emailed, some of them first teaching what the payment's later emails need.
REACTIONS.register(PaymentReceived, emailed(store.save_payment))
REACTIONS.register(PaymentProcessed, emailed(store.mark_processed))
REACTIONS.register(PaymentReturned, emailed(store.mark_returned))
REACTIONS.register(PaymentFailed, emailed())
REACTIONS.register(RefundSucceeded, emailed())
REACTIONS.register(RefundFailed, emailed())
REACTIONS.register(PaymentDisputed, emailed())
REACTIONS.register(DisputeClosed, emailed())


async def _link_paused(delivered: Delivered, event: LinkPaused) -> None:
    await PaymentEmails(delivered.settings).enqueue_link_paused(delivered.conn, delivered.envelope, event)


# Not a payment, but the firm's staff are told the same way: a burst of declines paused a pay link.
REACTIONS.register(LinkPaused, _link_paused)


async def _link_changed(delivered: Delivered, event: PaymentLinked | PaymentUnlinked) -> None:
    await store.set_linked(delivered.conn, event)


# A fact no email waits for: whether reconciliation linked a payment (the unidentified-trust reminder).
REACTIONS.register(PaymentLinked, _link_changed)
REACTIONS.register(PaymentUnlinked, _link_changed)


def consumer(settings: Settings) -> ConsumerSpec:
    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        await REACTIONS.react(Delivered(uow.conn, envelope, settings), envelope.event)

    return ConsumerSpec(name=REACTIONS.name, topics=REACTIONS.topics, handler=handle)


class PaymentEmails:
    """Puts a payment's emails (and a paused link's) in the email outbox, one per recipient group (or records
    why none)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def enqueue(self, conn: asyncpg.Connection, envelope: Envelope, event: EmailedEvent) -> None:
        """The staff email to the account's recipients; the payer's too for a receipt or refund."""
        payment = await store.payment_facts(conn, event.firm_id, event.payment_id)
        bank_account_id, _ = referenced_ids(event, payment)
        groups = route(await store.recipient_groups(conn, event.firm_id), bank_account_id)
        await self._enqueue(
            conn, envelope, event.payment_id, groups, NO_RECIPIENTS_CONFIGURED, email_outbox.STAFF
        )
        if isinstance(event, PAYER_EVENTS):
            address = payer_address(payment)
            payer = [RecipientGroup(PAYER_GROUP, (address,))] if address else []
            await self._enqueue(conn, envelope, event.payment_id, payer, NO_PAYER_EMAIL, email_outbox.PAYER)

    async def enqueue_link_paused(
        self, conn: asyncpg.Connection, envelope: Envelope, event: LinkPaused
    ) -> None:
        """The staff email of a paused link, to its bank account's recipients like a payment's. The outbox
        row's payment_id holds the link id, what the email is about (`GET /v1/emails?payment_id=`)."""
        groups = route(await store.recipient_groups(conn, event.firm_id), event.bank_account_id)
        await self._enqueue(
            conn, envelope, event.link_id, groups, NO_RECIPIENTS_CONFIGURED, email_outbox.STAFF
        )

    async def _enqueue(
        self,
        conn: asyncpg.Connection,
        envelope: Envelope,
        payment_id: str,
        groups: list[RecipientGroup],
        nobody: str,
        notice: str,
    ) -> None:
        """One outgoing email per group; none (or a stale event): one skipped row that says why."""
        skip_reason = STALE if self._too_old(envelope) else (None if groups else nobody)
        if skip_reason:
            await self._record_skipped(conn, envelope, payment_id, skip_reason, notice)
            return
        for group in groups:
            await email_outbox.enqueue(
                conn,
                envelope,
                payment_id,
                group,
                message_id=message_id(envelope.id, group.key, self._settings.message_id_domain),
                hold_seconds=self._settings.email_context_wait_seconds,
                notice=notice,
            )

    def _too_old(self, envelope: Envelope) -> bool:
        return datetime.now(UTC) - envelope.time > timedelta(hours=self._settings.email_max_event_age_hours)

    async def _record_skipped(
        self, conn: asyncpg.Connection, envelope: Envelope, payment_id: str, reason: str, notice: str
    ) -> None:
        group = PAYER_GROUP if notice == email_outbox.PAYER else NO_RECIPIENTS  # one skipped row each
        await email_outbox.record_skipped(
            conn,
            envelope,
            payment_id,
            reason=reason,
            message_id=message_id(envelope.id, group, self._settings.message_id_domain),
            notice=notice,
            group=group,
        )
        EMAILS_SKIPPED.labels(envelope.type, reason).inc()
        log.warning(
            "payment email skipped", event_id=envelope.id, firm_id=envelope.event.firm_id, reason=reason
        )
