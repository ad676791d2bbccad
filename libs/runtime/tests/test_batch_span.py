"""The batch span: one CONSUMER span linked to its events' producer spans, no more links than it keeps."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from aiokafka.structs import ConsumerRecord

from paylinks_events import ContactCreated, Envelope
from paylinks_runtime import inbox_consumer
from paylinks_runtime.inbox_consumer import Delivery, InboxConsumer, each_batch

pytestmark = pytest.mark.unit


def _delivery(offset: int) -> Delivery:
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    envelope = Envelope(
        ContactCreated(firm_id="f", contact_id=f"c{offset}", name="n"), source="/t", traceparent=traceparent
    )
    record = ConsumerRecord("practice.events", 0, offset, 0, 0, None, None, None, -1, -1, [])
    return Delivery(record, envelope)


def _consumer() -> InboxConsumer:
    return InboxConsumer(
        name="test-batch-span",
        topics=["practice.events"],
        writer=None,  # type: ignore[arg-type]  # a span needs neither the database nor Kafka
        batch_handler=each_batch(lambda uow, envelopes: None),  # type: ignore[arg-type,return-value]
        dead_letters=None,  # type: ignore[arg-type]
        bootstrap_servers="unused:9092",
    )


def test_a_large_batch_links_to_as_many_producer_spans_as_a_span_keeps(spans) -> None:  # type: ignore[no-untyped-def]
    deliveries = [_delivery(i) for i in range(inbox_consumer._MAX_LINKS + 72)]
    with _consumer()._batch_span(deliveries):
        pass
    (span,) = spans.get_finished_spans()
    assert span.attributes["messaging.batch.message_count"] == len(deliveries)
    assert span.dropped_links == 0
    linked = [format(link.context.span_id, "016x") for link in span.links]
    firsts = [d.envelope.traceparent.split("-")[2] for d in deliveries[: inbox_consumer._MAX_LINKS]]
    assert linked == firsts


def test_a_small_batch_links_to_every_event(spans) -> None:  # type: ignore[no-untyped-def]
    deliveries = [_delivery(i) for i in range(5)]
    with _consumer()._batch_span(deliveries):
        pass
    (span,) = spans.get_finished_spans()
    assert len(span.links) == 5


def test_a_consumer_span_names_its_operation_as_the_messaging_conventions_do(spans) -> None:  # type: ignore[no-untyped-def]
    with _consumer()._batch_span([_delivery(1), _delivery(2)]):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "process practice.events"  # {messaging.operation.name} {destination}
    assert span.attributes["messaging.system"] == "kafka"
    assert span.attributes["messaging.operation.type"] == "process"
    assert span.attributes["messaging.operation.name"] == "process"
    assert span.attributes["messaging.destination.name"] == "practice.events"
    assert span.attributes["messaging.consumer.group.name"] == "test-batch-span"


def test_a_single_events_span_says_where_the_record_was_and_what_it_was(spans) -> None:  # type: ignore[no-untyped-def]
    delivery = _delivery(41)
    record = dataclasses.replace(delivery.record, partition=2, key=b"c41")
    with _consumer()._batch_span([Delivery(record, delivery.envelope)]):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "process practice.events"
    assert span.parent is not None
    assert span.parent.span_id == int(delivery.envelope.traceparent.split("-")[2], 16)  # type: ignore[union-attr]
    assert {k: span.attributes[k] for k in span.attributes if not k.startswith("messaging.op")} == {
        "messaging.system": "kafka",
        "messaging.consumer.group.name": "test-batch-span",
        "messaging.destination.name": "practice.events",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.kafka.message.key": "c41",
        "messaging.message.id": delivery.envelope.id,
        "cloudevents.event_type": "ContactCreated",
    }


def test_a_batch_of_several_topics_names_them_all_and_no_one_destination(spans) -> None:  # type: ignore[no-untyped-def]
    first, second = _delivery(1), _delivery(2)
    other = Delivery(dataclasses.replace(second.record, topic="payment.events"), second.envelope)
    with _consumer()._batch_span([first, other]):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "process payment.events,practice.events"
    assert "messaging.destination.name" not in span.attributes
