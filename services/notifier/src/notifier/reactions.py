"""Who in the notifier reacts to which event (inside the inbox transaction): keep the lookups, and put each
payment email in the email outbox. Nothing is sent from here; the sender task does that after this
transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    BillPaymentApplied,
    Envelope,
    PaymentFailed,
    PaymentProcessed,
    PaymentReceived,
    PaymentUnallocated,
)
from paylinks_runtime.reactions import Reactions
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from . import email_outbox, store
from .config import Settings
from .metrics import EMAILS_SKIPPED
from .notices import referenced_ids
from .routing import NO_RECIPIENTS, message_id, route

log = structlog.get_logger(__name__)

NO_RECIPIENTS_CONFIGURED = "no recipients configured"
STALE = "event older than EMAIL_MAX_EVENT_AGE_HOURS"


@dataclass(frozen=True)
class Delivered:
    """An event as the consumer took it: the transaction's connection, its envelope and the settings."""

    conn: asyncpg.Connection
    envelope: Envelope
    settings: Settings


REACTIONS: Reactions[Delivered, Awaitable[None]] = Reactions("notifier")


# Events that only teach us names; each may complete an email that is waiting for them.
@REACTIONS.on(BankAccountRegistered)
async def _bank_account(delivered: Delivered, event: BankAccountRegistered) -> None:
    await store.save_bank_account(delivered.conn, event)
    await email_outbox.release_held(delivered.conn, event.firm_id)


@REACTIONS.on(BillIssued)
async def _bill(delivered: Delivered, event: BillIssued) -> None:
    await store.save_bill(delivered.conn, event)
    await email_outbox.release_held(delivered.conn, event.firm_id)


@REACTIONS.on(BillPaymentApplied)
async def _bill_payment(delivered: Delivered, event: BillPaymentApplied) -> None:
    await store.add_bill_payment(delivered.conn, event)
    await email_outbox.release_held(delivered.conn, event.firm_id)


@REACTIONS.on(PaymentUnallocated)
async def _unallocated(delivered: Delivered, event: PaymentUnallocated) -> None:
    await store.add_unallocated(delivered.conn, event)
    await email_outbox.release_held(delivered.conn, event.firm_id)


# The events that are emailed.
@REACTIONS.on(PaymentReceived)
async def _received(delivered: Delivered, event: PaymentReceived) -> None:
    await store.save_payment(delivered.conn, event)
    await PaymentEmails(delivered.settings).enqueue(delivered.conn, delivered.envelope, event)


@REACTIONS.on(PaymentProcessed)
async def _processed(delivered: Delivered, event: PaymentProcessed) -> None:
    await PaymentEmails(delivered.settings).enqueue(delivered.conn, delivered.envelope, event)


@REACTIONS.on(PaymentFailed)
async def _failed(delivered: Delivered, event: PaymentFailed) -> None:
    await PaymentEmails(delivered.settings).enqueue(delivered.conn, delivered.envelope, event)


def consumer(settings: Settings) -> ConsumerSpec:
    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        await REACTIONS.react(Delivered(uow.conn, envelope, settings), envelope.event)

    return ConsumerSpec(name=REACTIONS.name, topics=REACTIONS.topics, handler=handle)


class PaymentEmails:
    """Puts a payment's emails in the email outbox, one per recipient group (or records why none)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def enqueue(
        self,
        conn: asyncpg.Connection,
        envelope: Envelope,
        event: PaymentReceived | PaymentProcessed | PaymentFailed,
    ) -> None:
        payment = await store.payment_facts(conn, event.firm_id, event.payment_id)
        bank_account_id, _ = referenced_ids(event, payment)
        await self._enqueue(conn, envelope, event.payment_id, bank_account_id)

    async def _enqueue(
        self, conn: asyncpg.Connection, envelope: Envelope, payment_id: str, bank_account_id: str | None
    ) -> None:
        groups = route(await store.recipient_groups(conn, envelope.event.firm_id), bank_account_id)
        skip_reason = STALE if self._too_old(envelope) else (None if groups else NO_RECIPIENTS_CONFIGURED)
        if skip_reason:
            await self._record_skipped(conn, envelope, payment_id, skip_reason)
            return
        for group in groups:
            await email_outbox.enqueue(
                conn,
                envelope,
                payment_id,
                group,
                message_id=message_id(envelope.id, group.key, self._settings.message_id_domain),
                hold_seconds=self._settings.email_context_wait_seconds,
            )

    def _too_old(self, envelope: Envelope) -> bool:
        return datetime.now(UTC) - envelope.time > timedelta(hours=self._settings.email_max_event_age_hours)

    async def _record_skipped(
        self, conn: asyncpg.Connection, envelope: Envelope, payment_id: str, reason: str
    ) -> None:
        await email_outbox.record_skipped(
            conn,
            envelope,
            payment_id,
            reason=reason,
            message_id=message_id(envelope.id, NO_RECIPIENTS, self._settings.message_id_domain),
        )
        EMAILS_SKIPPED.labels(envelope.type, reason).inc()
        log.warning(
            "payment email skipped", event_id=envelope.id, firm_id=envelope.event.firm_id, reason=reason
        )
