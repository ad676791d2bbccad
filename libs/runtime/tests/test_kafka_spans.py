"""The relay's send spans follow the messaging conventions and end with the broker's answer: on the real
broker they end after the acknowledgement and say where the record went; when Kafka fails or never
answers they end in error, and the relay's failure line names the event and its trace."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import NotEnoughReplicasError
from aiokafka.structs import RecordMetadata
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from structlog.testing import capture_logs

from paylinks_events import ContactCreated, Envelope, Topic
from paylinks_runtime.logs import LINE_CONTEXT
from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.testing import TopicWatcher, header
from paylinks_runtime.tracing import current_trace_headers, tracer
from paylinks_runtime.unit_of_work import OutboxSignal, Writer


async def publish_contacts(pool: asyncpg.Pool, count: int) -> tuple[str, list[Envelope]]:
    """`count` events committed to the outbox by one traced operation; its trace id."""
    firm = f"firm-{uuid.uuid4()}"
    with tracer().start_as_current_span("staff request"):
        trace_id = current_trace_headers()["traceparent"].split("-")[1]
        async with Writer(pool, "/t", OutboxSignal()).unit_of_work() as uow:
            envelopes = []
            for i in range(count):
                envelopes += await uow.publish(ContactCreated(firm_id=firm, contact_id=f"c{i}", name=f"n{i}"))
    return trace_id, envelopes


class AckTimes:
    """The real producer, noting when each record's acknowledgement arrived (by ce_id)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self.acked_at: dict[str, int] = {}

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[RecordMetadata]:
        delivery: asyncio.Future[RecordMetadata] = await self._producer.send(topic, **kwargs)
        event_id = dict(kwargs["headers"])["ce_id"].decode()
        delivery.add_done_callback(lambda _: self.acked_at.setdefault(event_id, time.time_ns()))
        return delivery


class FailingProducer:
    """A producer whose every record gets `answer`: an error from the broker, or (None) no answer at all."""

    def __init__(self, answer: BaseException | None) -> None:
        self._answer = answer

    async def send(self, topic: str, **_: Any) -> asyncio.Future[RecordMetadata]:
        delivery: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        if self._answer is not None:
            delivery.set_exception(self._answer)
        return delivery


def send_spans(spans: Any, envelopes: list[Envelope]) -> dict[str, ReadableSpan]:
    ids = {e.id for e in envelopes}
    return {
        s.attributes["messaging.message.id"]: s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.PRODUCER and s.attributes.get("messaging.message.id") in ids
    }


async def test_a_send_span_follows_the_conventions_and_ends_after_the_brokers_acknowledgement(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, spans: Any
) -> None:
    trace_id, envelopes = await publish_contacts(pool, 3)
    acks = AckTimes(producer)
    relay = OutboxRelay(pool, acks, service="test", signal=OutboxSignal())  # type: ignore[arg-type]

    async with TopicWatcher(Topic.PRACTICE) as watcher:
        assert await relay.publish_batch() == 3
        ids = {e.id for e in envelopes}
        records = await watcher.wait_for(lambda r: header(r, "ce_id") in ids, count=3)

    sent = send_spans(spans, envelopes)
    assert set(sent) == ids
    for record in records:
        event_id = header(record, "ce_id")
        span = sent[event_id]  # type: ignore[index]
        assert span.name == f"send {Topic.PRACTICE}"
        assert span.attributes == {
            "messaging.system": "kafka",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": Topic.PRACTICE,
            "messaging.kafka.message.key": record.key.decode(),
            "messaging.message.id": event_id,
            "messaging.destination.partition.id": str(record.partition),  # known only from the ack
            "messaging.kafka.offset": record.offset,
        }
        assert span.status.status_code == StatusCode.UNSET
        assert span.end_time >= acks.acked_at[event_id]  # type: ignore[index, operator]
        assert format(span.context.trace_id, "032x") == trace_id  # a child of the committing operation
        # the record carries the send span as its creation context: the consumer continues from it
        assert header(record, "traceparent").split("-")[2] == format(span.context.span_id, "016x")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("answer", "error_type"),
    [(NotEnoughReplicasError(), "NotEnoughReplicasError"), (None, "TimeoutError")],
    ids=["refused", "never acknowledged"],
)
async def test_a_send_kafka_fails_ends_in_error_and_the_failure_line_names_the_event_and_its_trace(
    pool: asyncpg.Pool, spans: Any, answer: BaseException | None, error_type: str
) -> None:
    trace_id, envelopes = await publish_contacts(pool, 2)
    relay = OutboxRelay(
        pool,
        FailingProducer(answer),  # type: ignore[arg-type]
        service="test",
        signal=OutboxSignal(),
        publish_timeout_seconds=0.2,
    )

    with (
        capture_logs(processors=LINE_CONTEXT) as lines,
        pytest.raises((NotEnoughReplicasError, TimeoutError)),
    ):
        await relay.publish_batch()

    sent = send_spans(spans, envelopes)
    assert set(sent) == {e.id for e in envelopes}
    for span in sent.values():
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes["error.type"] == error_type
        assert "messaging.kafka.offset" not in span.attributes
    (failure,) = [line for line in lines if line["log_level"] == "error"]
    assert failure["event"] == "outbox publish failed; the batch is sent again"
    first = sent[envelopes[0].id]
    assert (failure["trace_id"], failure["span_id"]) == (trace_id, format(first.context.span_id, "016x"))
    assert (failure["event_id"], failure["event_type"]) == (envelopes[0].id, "ContactCreated")
    assert failure["failed_rows"] == 2
    async with pool.acquire() as conn:  # nothing lost: the rows wait for the next try
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 2
