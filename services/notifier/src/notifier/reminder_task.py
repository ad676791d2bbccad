"""The timer task behind the unidentified-trust reminder: every few seconds, each processed trust payment
still unlinked after its firm's number of business days gets ONE reminder email to the account's recipients
(the reminder row's primary key makes it one, across rounds, restarts and replicas)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import asyncpg
import structlog

from paylinks_runtime.db import database_unavailable
from paylinks_runtime.service import ServiceRuntime

from . import email_outbox, store
from .config import Settings
from .email_outbox import UNIDENTIFIED_TRUST_REMINDER, EmailSource
from .metrics import EMAILS_SKIPPED
from .routing import NO_RECIPIENTS, message_id, route
from .unidentified_trust import REMINDER, UnidentifiedTrustPayment, add_business_days, reminder_due

log = structlog.get_logger(__name__)
_REMINDER_IDS = uuid.UUID("5b0f3c8e-2d4a-4f61-9a57-6a1d2f0e9c11")  # namespace of the reminders' email ids
NO_RECIPIENTS_CONFIGURED = "no recipients configured"
LONG_OVERDUE = "reminder due long before it was noticed (UNIDENTIFIED_TRUST_REMINDER_MAX_LATE_DAYS)"


def reminder_email_id(firm_id: str, payment_id: str) -> str:
    """The same payment's reminder always has the same id (and so the same Message-ID)."""
    return str(uuid.uuid5(_REMINDER_IDS, f"{firm_id}\x00{payment_id}"))


class TrustReminders:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                await self.remind_due()
            except Exception as exc:
                if database_unavailable(exc):
                    log.warning("trust reminders waiting for the database", error=repr(exc))
                else:
                    log.error("trust reminder round failed", exc_info=exc)
            await asyncio.sleep(self._settings.reminder_poll_seconds)

    async def remind_due(self, now: datetime | None = None) -> int:
        """One round, in one transaction: the reminders and their emails commit together. Returns how many."""
        moment = now or datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            candidates = await store.unidentified_trust_payments(
                conn, self._settings.unidentified_trust_reminder_business_days, limit=500
            )
            due = [p for p in candidates if reminder_due(p.processed_at, p.business_days, moment)]
            for payment in due:
                await self._remind(conn, payment, moment)
        return len(due)

    async def _remind(
        self, conn: asyncpg.Connection, payment: UnidentifiedTrustPayment, now: datetime
    ) -> None:
        email_id = reminder_email_id(payment.firm_id, payment.payment_id)
        if not await store.record_reminder(conn, payment, email_id):
            return
        source = EmailSource(email_id, payment.firm_id, REMINDER, 1, _json(payment))
        groups = route(await store.recipient_groups(conn, payment.firm_id), payment.bank_account_id)
        skip_reason = LONG_OVERDUE if self._long_overdue(payment, now) else None
        skip_reason = skip_reason or (None if groups else NO_RECIPIENTS_CONFIGURED)
        if skip_reason:
            await self._record_skipped(conn, source, payment, skip_reason)
            return
        domain = self._settings.message_id_domain
        for group in groups:
            await email_outbox.enqueue(
                conn,
                source,
                payment.payment_id,
                group,
                message_id=message_id(email_id, group.key, domain),
                hold_seconds=self._settings.email_context_wait_seconds,
                notice=UNIDENTIFIED_TRUST_REMINDER,
            )
        log.info("unidentified trust reminder", firm_id=payment.firm_id, payment_id=payment.payment_id)

    def _long_overdue(self, payment: UnidentifiedTrustPayment, now: datetime) -> bool:
        """A new deployment replaying years of history must not mail a reminder for each old payment."""
        due = add_business_days(payment.processed_at, payment.business_days)
        return now - due > timedelta(days=self._settings.unidentified_trust_reminder_max_late_days)

    async def _record_skipped(
        self, conn: asyncpg.Connection, source: EmailSource, payment: UnidentifiedTrustPayment, reason: str
    ) -> None:
        await email_outbox.record_skipped(
            conn,
            source,
            payment.payment_id,
            reason=reason,
            message_id=message_id(source.event_id, NO_RECIPIENTS, self._settings.message_id_domain),
            notice=UNIDENTIFIED_TRUST_REMINDER,
        )
        EMAILS_SKIPPED.labels(REMINDER, reason).inc()
        log.warning("unidentified trust reminder skipped", payment_id=payment.payment_id, reason=reason)


def _json(payment: UnidentifiedTrustPayment) -> str:
    return json.dumps(payment.as_data())


async def remind_unidentified_trust(runtime: ServiceRuntime) -> None:
    """The runtime background task."""
    await TrustReminders(runtime.pool, cast(Settings, runtime.settings)).run()
