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
from .notices import referenced_ids
from .routing import NO_RECIPIENTS, message_id, route

log = structlog.get_logger(__name__)

# Events that only teach us names; each may complete an email that is waiting for them.
_LOOKUPS: dict[str, Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    "BankAccountRegistered": store.save_bank_account,
    "BillIssued": store.save_bill,
    "BillPaymentApplied": store.add_bill_payment,
    "PaymentUnallocated": store.add_unallocated,
}
NO_RECIPIENTS_CONFIGURED = "no recipients configured"
STALE = "event older than EMAIL_MAX_EVENT_AGE_HOURS"
_EMAILED = (PaymentReceived, PaymentProcessed, PaymentFailed)


class NotifierProjection:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def handle(self, uow: UnitOfWork, envelope: Envelope) -> None:
        event = envelope.event
        save = _LOOKUPS.get(envelope.type)
        if save is not None:
            await save(uow.conn, event)
            await email_outbox.release_held(uow.conn, event.firm_id)
        elif isinstance(event, _EMAILED):
            await self._payment_email(uow.conn, envelope, event)

    async def _payment_email(
        self,
        conn: asyncpg.Connection,
        envelope: Envelope,
        event: PaymentReceived | PaymentProcessed | PaymentFailed,
    ) -> None:
        if isinstance(event, PaymentReceived):
            await store.save_payment(conn, event)
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
