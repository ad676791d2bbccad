"""The consumer's handler (inside the inbox transaction): keep the lookups, and put each payment email in the
email outbox. Nothing is sent from here; the sender task does that after this transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from paylinks_events import Envelope, PaymentFailed, PaymentProcessed, PaymentReceived
from paylinks_runtime.unit_of_work import UnitOfWork

from . import email_outbox, store
from .config import Settings
from .metrics import EMAILS_SKIPPED
from .money_back_notices import MONEY_BACK_EVENTS, MoneyBackEvent
from .notices import referenced_ids
from .payer_notices import PAYER_EVENTS, payer_address
from .routing import NO_RECIPIENTS, RecipientGroup, message_id, route

log = structlog.get_logger(__name__)

# Events that only teach us names; each may complete an email that is waiting for them.
_LOOKUPS: dict[str, Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    "BankAccountRegistered": store.save_bank_account,
    "BillIssued": store.save_bill,
    "BillPaymentApplied": store.add_bill_payment,
    "PaymentUnallocated": store.add_unallocated,
    "FirmProfileUpdated": store.save_firm,
    "RefundRequested": store.save_refund,
}
# Facts that no email waits for: whether reconciliation linked a payment (the trust reminder).
_FACTS: dict[str, Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    "PaymentLinked": store.set_linked,
    "PaymentUnlinked": store.set_linked,
}
# What an emailed event teaches first, for its own email and the later ones of the payment.
_RECORDS: dict[str, Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    "PaymentReceived": store.save_payment,
    "PaymentProcessed": store.mark_processed,
    "PaymentReturned": store.mark_returned,
}
NO_RECIPIENTS_CONFIGURED = "no recipients configured"
NO_PAYER_EMAIL = "no payer email known"
STALE = "event older than EMAIL_MAX_EVENT_AGE_HOURS"
PAYER_GROUP = "payer"
_EMAILED = (PaymentReceived, PaymentProcessed, PaymentFailed, *MONEY_BACK_EVENTS)
EmailedEvent = PaymentReceived | PaymentProcessed | PaymentFailed | MoneyBackEvent


class NotifierProjection:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def handle(self, uow: UnitOfWork, envelope: Envelope) -> None:
        event = envelope.event
        save = _LOOKUPS.get(envelope.type)
        if save is not None:
            await save(uow.conn, event)
            await email_outbox.release_held(uow.conn, event.firm_id)
        elif envelope.type in _FACTS:
            await _FACTS[envelope.type](uow.conn, event)
        elif isinstance(event, _EMAILED):
            await self._payment_email(uow.conn, envelope, event)

    async def _payment_email(self, conn: asyncpg.Connection, envelope: Envelope, event: EmailedEvent) -> None:
        record = _RECORDS.get(envelope.type)
        if record is not None:
            await record(conn, event)
        payment_id = event.payment_id
        payment = await store.payment_facts(conn, event.firm_id, payment_id)
        bank_account_id, _ = referenced_ids(event, payment)
        groups = route(await store.recipient_groups(conn, event.firm_id), bank_account_id)
        await self._enqueue(conn, envelope, payment_id, groups, NO_RECIPIENTS_CONFIGURED, email_outbox.STAFF)
        if isinstance(event, PAYER_EVENTS):
            address = payer_address(payment)
            payer = [RecipientGroup(PAYER_GROUP, (address,))] if address else []
            await self._enqueue(conn, envelope, payment_id, payer, NO_PAYER_EMAIL, email_outbox.PAYER)

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
