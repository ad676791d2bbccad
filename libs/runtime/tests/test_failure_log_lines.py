"""A failure line says which event it was about and in which trace: a handler that fails on an event logs
it from inside the event's process span, and the dead-letter send that follows continues the same trace."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind, StatusCode
from structlog.testing import capture_logs

from paylinks_events import ContactCreated, Envelope, to_record
from paylinks_runtime.logs import LINE_CONTEXT, event_log_context
from paylinks_runtime.testing import TopicWatcher, eventually, header
from paylinks_runtime.tracing import current_trace_headers, tracer, within
from paylinks_runtime.unit_of_work import UnitOfWork

from .test_inbox_consumer import consuming


async def refuse_everything(_: UnitOfWork, envelope: Envelope) -> None:
    raise ValueError(f"this handler cannot apply {envelope.type}")


async def test_a_failing_handlers_lines_carry_the_events_id_and_trace(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, spans: Any
) -> None:
    with tracer().start_as_current_span("staff request"):
        traceparent = current_trace_headers()["traceparent"]
    trace_id = traceparent.split("-")[1]
    envelope = Envelope(
        ContactCreated(firm_id="f", contact_id=str(uuid.uuid4()), name="x"),
        source="/t",
        traceparent=traceparent,
    )
    record = to_record(envelope)
    await producer.send_and_wait(topic, value=record.value, key=record.key, headers=record.headers)

    with capture_logs(processors=LINE_CONTEXT) as lines:
        async with (
            TopicWatcher(f"{topic}.dlq") as dlq,
            consuming(pool, producer, [topic], handler=refuse_everything),
        ):
            (dead,) = await dlq.wait_for(lambda r: header(r, "ce_id") == envelope.id, timeout=60)
            # The watcher can read the record before the broker's ack reaches the dead-letter code, which
            # writes its line then: wait for the line before the consumer is stopped (it was cut off once).
            await eventually(
                lambda: any(line["event"] == "record sent to dead-letter topic" for line in lines)
            )

    failures = [line for line in lines if line["log_level"] in ("warning", "error")]
    handler_failed = [line for line in failures if line["event"] == "event handler failed"]
    assert handler_failed  # once in the batch, once more when the event is tried alone
    for line in failures:
        assert line.get("trace_id") == trace_id or "event_ids" in line, (
            line
        )  # a batch's line names its events
        if "event_ids" in line:
            assert line["event_ids"] == [envelope.id]
        else:
            assert (line["event_id"], line["event_type"]) == (envelope.id, "ContactCreated"), line

    process_spans = {
        format(s.context.span_id, "016x"): s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.CONSUMER and s.attributes.get("messaging.message.id") == envelope.id
    }
    for line in handler_failed:  # written inside the event's process span, which ended in error
        span = process_spans[line["span_id"]]
        assert span.name == f"process {topic}"
        assert span.status.status_code == StatusCode.ERROR
    (dead_letter_line,) = [line for line in failures if line["event"] == "record sent to dead-letter topic"]
    (dlq_send,) = [s for s in spans.get_finished_spans() if s.name == f"send {topic}.dlq"]
    assert dead_letter_line["span_id"] == format(dlq_send.context.span_id, "016x")
    assert dlq_send.attributes["messaging.kafka.offset"] == dead.offset


def test_a_line_about_work_another_process_caused_carries_that_trace_and_event() -> None:
    traceparent = f"00-{'ab' * 16}-{'cd' * 8}-01"
    log = structlog.get_logger("test")
    with capture_logs(processors=LINE_CONTEXT) as lines:
        with within(traceparent), event_log_context("e-1", "PaymentReceived"):
            log.warning("email could not be composed")
        with within(None), event_log_context(None, None):  # nothing known: nothing made up
            log.warning("email sender round failed")
    about, unknown = lines
    assert (about["trace_id"], about["span_id"]) == ("ab" * 16, "cd" * 8)
    assert (about["event_id"], about["event_type"]) == ("e-1", "PaymentReceived")
    assert unknown.keys() == {"event", "log_level"}
