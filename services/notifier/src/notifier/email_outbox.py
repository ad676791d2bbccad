"""The email outbox (`outgoing_emails`): rows written in the consumer's inbox transaction, claimed, rendered
and marked by the sender. Every status change is a row update: nothing is deleted, nothing silently lost."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from paylinks_events import Envelope, encode_data
from paylinks_runtime.tracing import current_trace_headers

from .rendering import RenderedEmail
from .routing import NO_RECIPIENTS, RecipientGroup

# Who an email is for, which decides its wording.
STAFF, PAYER, UNIDENTIFIED_TRUST_REMINDER = "staff", "payer", "unidentified_trust_reminder"


@dataclass(frozen=True)
class EmailSource:
    """What an email is about: an event, or a fact of the notifier's own (a reminder) under a stable id."""

    event_id: str
    firm_id: str
    event_type: str
    schema_version: int
    data: str  # JSON

    @classmethod
    def of(cls, envelope: Envelope) -> EmailSource:
        event = envelope.event
        return cls(
            envelope.id, event.firm_id, envelope.type, event.schema_version, encode_data(event).decode()
        )


@dataclass(frozen=True)
class OutgoingEmail:
    id: int
    event_id: str
    event_type: str
    event_data: dict[str, object]
    schema_version: int
    firm_id: str
    payment_id: str
    recipients: tuple[str, ...]
    message_id: str
    attempts: int
    created_at: datetime
    holding: bool  # still waiting for context (names) it may show
    subject: str | None
    body_text: str | None
    body_html: str | None
    notice: str = STAFF  # who it is for: STAFF, PAYER or UNIDENTIFIED_TRUST_REMINDER
    traceparent: str | None = None  # the span that queued it (a consumer's): its SMTP span's parent
    tracestate: str | None = None

    @property
    def rendered(self) -> bool:
        return self.subject is not None

    def with_body(self, body: RenderedEmail) -> OutgoingEmail:
        return replace(self, subject=body.subject, body_text=body.text, body_html=body.html)


async def enqueue(
    conn: asyncpg.Connection,
    source: Envelope | EmailSource,
    payment_id: str,
    group: RecipientGroup,
    *,
    message_id: str,
    hold_seconds: float,
    notice: str = STAFF,
) -> None:
    recipients = list(group.emails)
    await _insert(
        conn, source, payment_id, notice, group.key, recipients, message_id, "pending", None, hold_seconds
    )


async def record_skipped(
    conn: asyncpg.Connection,
    source: Envelope | EmailSource,
    payment_id: str,
    *,
    reason: str,
    message_id: str,
    notice: str = STAFF,
    group: str = NO_RECIPIENTS,
) -> None:
    await _insert(conn, source, payment_id, notice, group, [], message_id, "skipped", reason, 0.0)


async def _insert(
    conn: asyncpg.Connection, source: Envelope | EmailSource, payment_id: str, *values: object
) -> None:
    src = source if isinstance(source, EmailSource) else EmailSource.of(source)
    trace = current_trace_headers()
    await conn.execute(
        "INSERT INTO outgoing_emails (event_id, firm_id, payment_id, event_type, schema_version, event_data,"
        " traceparent, tracestate,"
        " notice, recipient_group, recipients, message_id, status, skip_reason, hold_until)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14,"
        " now() + make_interval(secs => $15))"
        " ON CONFLICT (event_id, recipient_group) DO NOTHING",
        src.event_id,
        src.firm_id,
        payment_id,
        src.event_type,
        src.schema_version,
        src.data,
        trace.get("traceparent"),
        trace.get("tracestate"),
        *values,
    )


async def release_held(conn: asyncpg.Connection, firm_id: str) -> None:
    """New names arrived for this firm: emails waiting for context are due now (they check again).

    No condition on next_attempt_at: a row the sender is holding back right now is locked, so this waits
    for the sender's transaction and then releases the row, instead of missing it.
    """
    await conn.execute(
        "UPDATE outgoing_emails SET next_attempt_at = now()"
        " WHERE firm_id = $1 AND status = 'pending' AND subject IS NULL",
        firm_id,
    )


async def due(conn: asyncpg.Connection, limit: int) -> list[OutgoingEmail]:
    """Pending rows whose time has come, locked for this transaction; other senders skip them."""
    rows = await conn.fetch(
        "SELECT id, event_id, event_type, event_data, schema_version, firm_id, payment_id, notice,"
        " recipients, message_id, attempts, created_at, hold_until > now() AS holding, subject, body_text,"
        " body_html, traceparent, tracestate"
        " FROM outgoing_emails"
        " WHERE status = 'pending' AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [_email(r) for r in rows]


def _email(row: asyncpg.Record) -> OutgoingEmail:
    fields = dict(row)
    fields["event_data"] = json.loads(fields["event_data"])
    fields["recipients"] = tuple(fields["recipients"])
    return OutgoingEmail(**fields)


async def wait_for_context(conn: asyncpg.Connection, email_id: int) -> None:
    await conn.execute("UPDATE outgoing_emails SET next_attempt_at = hold_until WHERE id = $1", email_id)


async def save_body(conn: asyncpg.Connection, email_id: int, body: RenderedEmail) -> None:
    await conn.execute(
        "UPDATE outgoing_emails SET subject = $2, body_text = $3, body_html = $4 WHERE id = $1",
        email_id,
        body.subject,
        body.text,
        body.html,
    )


async def record_grant(conn: asyncpg.Connection, email_id: int, grant_sha256: str) -> None:
    await conn.execute("UPDATE outgoing_emails SET grant_sha256 = $2 WHERE id = $1", email_id, grant_sha256)


async def lease(conn: asyncpg.Connection, email_ids: list[int], seconds: float) -> None:
    """Count the attempt and keep the rows out of other claims while they are being sent."""
    await conn.execute(
        "UPDATE outgoing_emails SET attempts = attempts + 1,"
        " next_attempt_at = now() + make_interval(secs => $2) WHERE id = ANY($1::bigint[])",
        email_ids,
        seconds,
    )


async def mark_sent(conn: asyncpg.Connection, email_ids: list[int]) -> None:
    await conn.execute(
        "UPDATE outgoing_emails SET status = 'sent', sent_at = now(), last_error = NULL"
        " WHERE id = ANY($1::bigint[])",
        email_ids,
    )


async def retry_later(conn: asyncpg.Connection, email_id: int, delay: float, error: str) -> None:
    await conn.execute(
        "UPDATE outgoing_emails SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3"
        " WHERE id = $1",
        email_id,
        delay,
        error[:500],
    )


async def for_firm(
    conn: asyncpg.Connection, firm_id: str, payment_id: str | None, limit: int
) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT event_id, event_type, notice, payment_id, status, skip_reason, recipient_group, recipients,"
        " message_id, subject, attempts, last_error, created_at, sent_at FROM outgoing_emails"
        " WHERE firm_id = $1 AND ($2::text IS NULL OR payment_id = $2) ORDER BY id DESC LIMIT $3",
        firm_id,
        payment_id,
        limit,
    )
    return [{**dict(r), "recipients": list(r["recipients"])} for r in rows]
