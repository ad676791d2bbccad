from datetime import UTC, datetime

import pytest

from notifier.config import Settings
from notifier.email_outbox import OutgoingEmail
from notifier.rendering import RenderedEmail
from notifier.sender import email_backoff
from notifier.smtp import build_message

pytestmark = pytest.mark.unit


def outgoing() -> OutgoingEmail:
    return OutgoingEmail(
        id=1,
        event_id="e1",
        event_type="PaymentReceived",
        event_data={},
        schema_version=1,
        firm_id="f1",
        payment_id="p1",
        recipients=("a@firm.example", "b@firm.example"),
        message_id="<e1.abc@paylinks.example>",
        attempts=0,
        created_at=datetime(2026, 11, 3, tzinfo=UTC),
        holding=False,
        subject=None,
        body_text=None,
        body_html=None,
    ).with_body(RenderedEmail("Payment received: $1.00 from Zoë", "plain", "<p>html</p>"))


def test_message_has_both_parts_and_the_stable_message_id() -> None:
    message = build_message(outgoing(), "Paylinks <payments@paylinks.example>")
    assert message["Message-ID"] == "<e1.abc@paylinks.example>"
    assert message["To"] == "a@firm.example, b@firm.example"
    assert message["Subject"] == "Payment received: $1.00 from Zoë"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_the_same_row_builds_the_same_message() -> None:
    sender = "payments@paylinks.example"
    assert build_message(outgoing(), sender).as_bytes() == build_message(outgoing(), sender).as_bytes()


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    backoff = email_backoff(Settings(email_retry_base_seconds=2.0, email_retry_max_seconds=60.0))
    assert [backoff.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
