"""Dead-letter topic: where a consumer puts a record it cannot process, so consumption continues."""

from __future__ import annotations

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from paylinks_events import PoisonRecord, dlq_topic, header_map

from . import kafka_spans
from .logs import event_log_context
from .metrics import DLQ_RECORDS
from .tracing import context_from, current

log = structlog.get_logger(__name__)


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, consumer_name: str) -> None:
        self._producer = producer
        self._consumer = consumer_name

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        """Publish the record unchanged to `<topic>.dlq` with the `dlq_*` headers; wait for the ack. The
        send span continues the record's trace, and the lines logged name its event (as far as its headers
        can be read: a poison record may have none)."""
        attrs = _readable_headers(record)
        topic = dlq_topic(record.topic)
        span = kafka_spans.send_span(
            topic,
            key=record.key.decode(errors="replace") if record.key is not None else None,
            message_id=attrs.get("ce_id"),
            parent=context_from(attrs.get("traceparent"), attrs.get("tracestate")),
        )
        with current(span), event_log_context(attrs.get("ce_id"), attrs.get("ce_type")):
            try:
                metadata = await self._producer.send_and_wait(
                    topic, value=record.value, key=record.key, headers=self._headers(record, reason)
                )
            except BaseException as exc:
                kafka_spans.failed(span, exc)
                log.error("record not sent to dead-letter topic", topic=record.topic, error=repr(exc))
                raise
            kafka_spans.acknowledged(span, metadata)
            DLQ_RECORDS.labels(self._consumer, record.topic).inc()
            log.warning(
                "record sent to dead-letter topic",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
            )

    def _headers(self, record: ConsumerRecord, reason: str) -> list[tuple[str, bytes]]:
        return [*(record.headers or ()), *self._dlq_headers(record, reason)]

    def _dlq_headers(self, record: ConsumerRecord, reason: str) -> list[tuple[str, bytes]]:
        return [
            ("dlq_reason", reason[:1000].encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_consumer", self._consumer.encode()),
        ]


def _readable_headers(record: ConsumerRecord) -> dict[str, str]:
    try:
        return header_map(record.headers)
    except PoisonRecord:  # a header that is not UTF-8: the reason it is dead-lettered, maybe
        return {}
