"""SMTP at the edge: an outbox row as a MIME message (text and HTML parts), sent with aiosmtplib."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from paylinks_runtime.tracing import context_from, tracer

from .config import Settings
from .email_outbox import OutgoingEmail

SENT, FAILED = "sent", "failed"  # a delivery's outcome, on its span


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def build_message(email: OutgoingEmail, sender: str) -> EmailMessage:
    """Everything in it comes from the row, so a re-send is byte-for-byte the same message."""
    assert email.subject is not None
    assert email.body_text is not None
    assert email.body_html is not None
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.recipients)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Paylinks-Event-Id"] = email.event_id
    message.set_content(email.body_text)
    message.add_alternative(email.body_html, subtype="html")
    message.set_boundary("==paylinks-" + hashlib.sha256(email.message_id.encode()).hexdigest()[:24])
    return message


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_start_tls,
            timeout=s.smtp_timeout_seconds,
        )


def delivery_span(email: OutgoingEmail, settings: Settings) -> Span:
    """A CLIENT span for one SMTP delivery, a child of the consumer span that queued the email (so the
    payment's trace reaches it), ended by `delivered` or `not_delivered`. Counts, never addresses."""
    return tracer().start_span(
        "smtp send",
        context=context_from(email.traceparent, email.tracestate),
        kind=SpanKind.CLIENT,
        attributes={
            server_attributes.SERVER_ADDRESS: settings.smtp_host,
            server_attributes.SERVER_PORT: settings.smtp_port,
            "network.protocol.name": "smtp",
            "paylinks.email.message_id": email.message_id,
            "paylinks.email.recipient_count": len(email.recipients),
            "paylinks.email.attempt": email.attempts,
            "paylinks.email.notice": email.notice,
            "paylinks.event.id": email.event_id,
            "paylinks.event.type": email.event_type,
        },
    )


def delivered(span: Span) -> None:
    span.set_attribute("paylinks.email.outcome", SENT)
    span.end()


def not_delivered(span: Span, error: BaseException) -> None:
    """The server refused, timed out or could not be reached: the email is retried later."""
    span.set_attribute("paylinks.email.outcome", FAILED)
    span.set_attribute(error_attributes.ERROR_TYPE, type(error).__name__)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, repr(error)))
    span.end()
