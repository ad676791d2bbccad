"""An email's SMTP delivery is a span in the trace of the event that caused it (a child of the consumer
span that queued it), saying where it went and how it ended; a failed delivery's line names both."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from structlog.testing import capture_logs

from paylinks_events import Envelope
from paylinks_runtime.logs import LINE_CONTEXT
from paylinks_runtime.testing import eventually
from paylinks_runtime.tracing import current_trace_headers, tracer


def traced(event: Any) -> tuple[Envelope, str]:
    """The event as a traced operation publishes it; the operation's trace id."""
    with tracer().start_as_current_span("pay request"):
        traceparent = current_trace_headers()["traceparent"]
    return Envelope(event, source="/notifier-tests", traceparent=traceparent), traceparent.split("-")[1]


def finished(spans: Any, event_id: str, kind: SpanKind) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.kind == kind
        and event_id in (s.attributes.get("paylinks.event.id"), s.attributes.get("messaging.message.id"))
    ]


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


async def test_an_email_is_sent_in_a_span_that_continues_the_trace_of_its_event(firm, spans) -> None:  # type: ignore[no-untyped-def]
    account = await firm.bank_account()
    await firm.set_recipients()
    envelope, trace_id = traced(firm.received(account))
    await firm.publish(envelope)

    (message,) = await firm.wait_for_mail(1)
    message_id = str(message["message-id"]).strip()  # unfolded
    (smtp,) = await eventually(lambda: finished(spans, envelope.id, SpanKind.CLIENT))
    (consumer,) = finished(spans, envelope.id, SpanKind.CONSUMER)
    assert smtp.name == "smtp send"
    assert hex_ids(smtp)[0] == trace_id
    assert smtp.parent is not None
    assert smtp.parent.span_id == consumer.context.span_id
    assert smtp.status.status_code == StatusCode.UNSET
    attributes = dict(smtp.attributes)
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == firm.sink.port
    assert attributes["paylinks.email.message_id"] == message_id
    assert attributes["paylinks.email.recipient_count"] == 1
    assert attributes["paylinks.email.outcome"] == "sent"
    assert attributes["paylinks.event.type"] == "PaymentReceived"
    assert not any("@" in str(value) and value != message_id for value in attributes.values())  # no address


async def test_a_refused_delivery_ends_its_span_in_error_and_its_line_names_the_event_and_trace(
    firm,
    sink,
    spans,
) -> None:  # type: ignore[no-untyped-def]
    account = await firm.bank_account()
    await firm.set_recipients("refuse-me")
    envelope, trace_id = traced(firm.received(account))
    sink.refuse(firm.address("refuse-me"))
    try:
        with capture_logs(processors=LINE_CONTEXT) as lines:
            await firm.publish(envelope)
            failed = await eventually(lambda: finished(spans, envelope.id, SpanKind.CLIENT), timeout=40)
    finally:
        sink.refuse(None)

    smtp = failed[0]
    assert smtp.status.status_code == StatusCode.ERROR
    assert smtp.attributes["paylinks.email.outcome"] == "failed"
    assert smtp.attributes["error.type"] == "SMTPRecipientsRefused"
    retry_lines = [line for line in lines if line["event"] == "email not sent; will retry"]
    assert retry_lines
    first = retry_lines[0]
    assert (first["trace_id"], first["span_id"]) == hex_ids(smtp)
    assert hex_ids(smtp)[0] == trace_id
    assert (first["event_id"], first["event_type"]) == (envelope.id, "PaymentReceived")
    await firm.wait_for_mail(1, who="refuse-me")  # accepted again: delivered on a later try
