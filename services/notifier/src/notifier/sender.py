"""The sender task: claims due emails from the outbox, composes each once, sends it over SMTP, marks it.

Delivery is at-least-once with a stable Message-ID: a crash after the SMTP server accepted a message but
before it was marked sent re-sends the same message (same Message-ID) once its lease runs out. A database
outage at that moment is not a crash: the sender remembers what it sent and marks it before it claims
anything again, so that email is not sent twice. Each email fails and backs off on its own, so one bad
address or firm never stalls the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import structlog

from paylinks_runtime.db import database_unavailable
from paylinks_runtime.logs import event_log_context
from paylinks_runtime.retry import Backoff
from paylinks_runtime.tracing import current, within

from . import email_outbox, grant_links, store
from .config import Settings
from .email_outbox import OutgoingEmail
from .emails import compose_email, still_missing, subject_of
from .metrics import EMAILS_FAILED, EMAILS_PENDING, EMAILS_SENT
from .rendering import render
from .smtp import SmtpTransport, Transport, build_message, delivered, delivery_span, not_delivered

log = structlog.get_logger(__name__)


def email_backoff(settings: Settings) -> Backoff:
    """When an email that was not sent is tried again: base, 2*base, 4*base, ... at most the maximum."""
    return Backoff(settings.email_retry_base_seconds, cap=settings.email_retry_max_seconds)


class EmailSender:
    def __init__(self, pool: asyncpg.Pool, transport: Transport, settings: Settings) -> None:
        self._pool = pool
        self._transport = transport
        self._settings = settings
        self._backoff = email_backoff(settings)
        # Accepted by the SMTP server, `sent` not yet committed (the database was down): marked first thing
        # in every round, so a row this process knows it sent is never claimed and sent again.
        self._sent_unmarked: dict[int, OutgoingEmail] = {}

    async def run(self) -> None:
        """Send until cancelled; an unexpected error (database down) is logged and the loop goes on."""
        try:
            while True:
                try:
                    claimed = await self.send_due()
                except Exception as exc:
                    _log_round_failure(exc)
                    claimed = 0
                if claimed == 0:
                    await asyncio.sleep(self._settings.email_poll_seconds)
        finally:
            if self._sent_unmarked:  # only a crash-like stop leaves these: re-sent after the lease
                log.error("stopping with sent emails not marked as sent", event_ids=self._unmarked_ids())

    async def send_due(self) -> int:
        """One round: mark what was sent but not marked, then claim, send and mark the emails that are due."""
        await self._mark_remembered()
        emails = await self._claim()
        outcomes = await asyncio.gather(*(self._deliver(email) for email in emails), return_exceptions=True)
        for email, outcome in zip(emails, outcomes, strict=True):
            if isinstance(outcome, Exception):  # not sent, its retry not recorded: due again after its lease
                with about(email):
                    log.warning("email not sent and its retry not recorded", error=repr(outcome))
        await self._report_backlog()
        return len(emails)

    async def _mark_remembered(self) -> None:
        """Raises while the database is still down; the round waits, and claims nothing meanwhile."""
        if not self._sent_unmarked:
            return
        async with self._pool.acquire() as conn:  # one statement for all of them
            await email_outbox.mark_sent(conn, list(self._sent_unmarked))
        log.info("sent emails marked after the database came back", event_ids=self._unmarked_ids())
        self._sent_unmarked.clear()

    def _unmarked_ids(self) -> list[str]:
        return [email.event_id for email in self._sent_unmarked.values()]

    async def _claim(self) -> list[OutgoingEmail]:
        async with self._pool.acquire() as conn, conn.transaction():
            due = await email_outbox.due(conn, self._settings.email_batch_size)
            ready = []
            for email in due:
                prepared = await self._prepare_isolated(conn, email)
                if prepared is not None:
                    ready.append(prepared)
            await email_outbox.lease(conn, [e.id for e in ready], self._settings.email_lease_seconds)
        return ready

    async def _prepare_isolated(self, conn: asyncpg.Connection, email: OutgoingEmail) -> OutgoingEmail | None:
        """A row that cannot be composed (a bug, bad data) backs off alone instead of blocking the batch."""
        try:
            async with conn.transaction():  # a savepoint
                return await self._prepare(conn, email)
        except Exception as exc:
            with about(email):
                log.exception("email could not be composed")
            await email_outbox.retry_later(conn, email.id, self._delay(email.attempts + 1), repr(exc))
            return None

    async def _prepare(self, conn: asyncpg.Connection, email: OutgoingEmail) -> OutgoingEmail | None:
        """Compose the body the first time the row is due, unless it should still wait for names."""
        if email.rendered:
            return email
        subject = subject_of(email.event_type, email.event_data, email.schema_version)
        context = await store.load_context(conn, subject, email.payment_id)
        if email.holding and still_missing(subject, context, email.notice):
            await email_outbox.wait_for_context(conn, email.id)
            return None
        body = render(compose_email(subject, context, self._link_url, email.notice))
        await email_outbox.save_body(conn, email.id, body)
        return email.with_body(body)

    def _link_url(self, _firm_id: str, payment_id: str) -> str:
        return grant_links.link_url(self._settings.reconciliation_base_url, payment_id)

    async def _with_grant(self, email: OutgoingEmail) -> OutgoingEmail:
        """The email with a fresh grant in its link, whose digest is recorded before it leaves."""
        if not grant_links.needs_grant(email):
            return email
        grant = grant_links.mint(self._settings.grant_keys(), email)
        async with self._pool.acquire() as conn:
            await email_outbox.record_grant(conn, email.id, grant_links.digest(grant))
        return grant_links.filled(email, grant)

    async def _deliver(self, email: OutgoingEmail) -> None:
        email = await self._with_grant(email)
        span = delivery_span(email, self._settings)
        with current(span), event_log_context(email.event_id, email.event_type):  # every line names both
            try:
                await self._transport.send(build_message(email, self._settings.email_from))
            except Exception as exc:  # SMTP down, refused, timed out: all retried, none dropped
                not_delivered(span, exc)
                await self._retry_later(email, exc)
                return
            delivered(span)
            await self._mark_delivered(email)

    async def _mark_delivered(self, email: OutgoingEmail) -> None:
        EMAILS_SENT.labels(email.event_type).inc()
        log.info("email sent", event_id=email.event_id, message_id=email.message_id, type=email.event_type)
        try:
            async with self._pool.acquire() as conn:
                await email_outbox.mark_sent(conn, [email.id])
        except Exception as exc:
            self._sent_unmarked[email.id] = email
            log.warning(
                "email sent but not marked as sent; marking it when the database is back",
                event_id=email.event_id,
                error=repr(exc),
            )

    async def _retry_later(self, email: OutgoingEmail, exc: Exception) -> None:
        delay = self._delay(email.attempts + 1)
        EMAILS_FAILED.labels(email.event_type).inc()
        log.warning("email not sent; will retry", event_id=email.event_id, retry_in=delay, error=repr(exc))
        async with self._pool.acquire() as conn:
            await email_outbox.retry_later(conn, email.id, delay, repr(exc))

    def _delay(self, attempts: int) -> float:
        return self._backoff.delay(attempts)

    async def _report_backlog(self) -> None:
        async with self._pool.acquire() as conn:
            EMAILS_PENDING.set(
                await conn.fetchval("SELECT count(*) FROM outgoing_emails WHERE status = 'pending'")
            )


@contextmanager
def about(email: OutgoingEmail) -> Iterator[None]:
    """Lines logged inside name the email's event and carry the trace of the consumer span that queued it."""
    with within(email.traceparent, email.tracestate), event_log_context(email.event_id, email.event_type):
        yield


def _log_round_failure(exc: Exception) -> None:
    if database_unavailable(exc):  # an outage: one line a round, no traceback
        log.warning("email sender waiting for the database", error=repr(exc))
    else:
        log.error("email sender round failed", exc_info=exc)


async def send_emails(pool: asyncpg.Pool, settings: Settings) -> None:
    """The background task: send what the email outbox holds, for ever."""
    await EmailSender(pool, SmtpTransport(settings), settings).run()
