"""Kafka spans named and described as the OpenTelemetry messaging conventions say (the `messaging.*`
attributes of the semantic-conventions package installed with the SDK; messaging is still "development").

- A span is named `{messaging.operation.name} {destination}`: `send payment.events`, `process payment.events`.
- A producer span is the message's creation context (its traceparent goes into the record's headers, and
  the consumer's span continues from it) and lasts until the broker acknowledged the record: then it gets
  the partition and offset the broker gave it. A send that fails (refused, timed out) ends in error with
  `error.type`, so a trace shows the publish that never arrived, not one that merely was queued.
"""

from __future__ import annotations

from typing import Any

from aiokafka.structs import RecordMetadata
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .tracing import tracer

KAFKA = "kafka"
SEND, PROCESS = "send", "process"  # operation names: Kafka's own, which are also the operation types


def send_span(topic: str, *, key: str | None, message_id: str | None, parent: Context | None) -> Span:
    """A PRODUCER span for one record, not yet ended (it ends with `acknowledged` or `failed`)."""
    attributes: dict[str, Any] = {
        messaging.MESSAGING_SYSTEM: KAFKA,
        messaging.MESSAGING_OPERATION_NAME: SEND,
        messaging.MESSAGING_OPERATION_TYPE: SEND,
        messaging.MESSAGING_DESTINATION_NAME: topic,
    }
    if key is not None:  # "if the key is null, the attribute MUST NOT be set"
        attributes[messaging.MESSAGING_KAFKA_MESSAGE_KEY] = key
    if message_id:
        attributes[messaging.MESSAGING_MESSAGE_ID] = message_id
    name = f"{SEND} {topic}"
    return tracer().start_span(name, context=parent, kind=SpanKind.PRODUCER, attributes=attributes)


def acknowledged(span: Span, metadata: RecordMetadata) -> None:
    """The broker stored the record: where it is, and the end of the send."""
    span.set_attribute(messaging.MESSAGING_DESTINATION_PARTITION_ID, str(metadata.partition))
    span.set_attribute(messaging.MESSAGING_KAFKA_OFFSET, metadata.offset)
    span.end()


def failed(span: Span, error: BaseException) -> None:
    """The send ended without the broker's acknowledgement. Ending an ended span again does nothing."""
    if not span.is_recording():
        return
    span.set_attribute(error_attributes.ERROR_TYPE, type(error).__name__)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, repr(error)))
    span.end()


def process_attributes(consumer_group: str) -> dict[str, str]:
    """What every CONSUMER span of a consumer group carries."""
    return {
        messaging.MESSAGING_SYSTEM: KAFKA,
        messaging.MESSAGING_OPERATION_NAME: PROCESS,
        messaging.MESSAGING_OPERATION_TYPE: PROCESS,
        messaging.MESSAGING_CONSUMER_GROUP_NAME: consumer_group,
    }


def process_name(destination: str) -> str:
    return f"{PROCESS} {destination}"
