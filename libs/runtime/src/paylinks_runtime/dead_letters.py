"""Dead-letter topic: where a consumer puts a record it cannot process, so consumption continues."""

from __future__ import annotations

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from paylinks_events import dlq_topic

from .metrics import DLQ_RECORDS

log = structlog.get_logger(__name__)


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, consumer_name: str) -> None:
        self._producer = producer
        self._consumer = consumer_name

    async def send(self, record: ConsumerRecord, reason: str) -> None:
        """Publish the record unchanged to `<topic>.dlq` with the `dlq_*` headers; wait for the ack."""
        headers = [*(record.headers or ()), *self._dlq_headers(record, reason)]
        await self._producer.send_and_wait(
            dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        DLQ_RECORDS.labels(self._consumer, record.topic).inc()
        log.warning(
            "record sent to dead-letter topic",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )

    def _dlq_headers(self, record: ConsumerRecord, reason: str) -> list[tuple[str, bytes]]:
        return [
            ("dlq_reason", reason[:1000].encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_consumer", self._consumer.encode()),
        ]
