"""SMTP at the edge: an outbox row as a MIME message (text and HTML parts), sent with aiosmtplib."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib

from .config import Settings
from .email_outbox import OutgoingEmail


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
