"""What the hostile-input run leaves behind, recorded so that tests can look for what must not be there:
every log line the four services write, and every Kafka record produced on the contract topics."""

from __future__ import annotations

import logging

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from paylinks_runtime import card_data
from paylinks_runtime.kafka import contract_topics
from paylinks_runtime.logs import setup_logging
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, header

# schemathesis's HTTP client: at DEBUG it logs every URL it sent, random query keys included. No service
# uses urllib3, so leaving it out hides nothing a service logs.
TEST_CLIENT_LOGGERS = ("urllib3",)


class LogRecorder(logging.Handler):
    """The services' log lines exactly as production writes them (`setup_logging`'s JSON), at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._saved: tuple[list[logging.Handler], int] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(TEST_CLIENT_LOGGERS):
            return  # what the test itself sent (schemathesis's random query keys), not a service's line
        self.lines.append(self.format(record))

    def install(self) -> None:
        root = logging.getLogger()
        self._saved = (root.handlers[:], root.level)
        setup_logging("paylinks", "DEBUG")  # replaces the root handlers with its stdout handler
        self.setFormatter(root.handlers[0].formatter)
        root.handlers[:] = [*self._saved[0], self]

    def uninstall(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        if self._saved is not None:
            root.setLevel(self._saved[1])
        structlog.reset_defaults()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class KafkaTape:
    """Every record produced on the contract topics and their dead-letter topics after `start()`."""

    def __init__(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
        self.records: list[ConsumerRecord] = []

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()  # as TopicWatcher does: topics may be new
        partitions = [
            TopicPartition(topic, p)
            for topic in contract_topics()
            for p in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(partitions)
        for tp, offset in (await self._consumer.end_offsets(partitions)).items():
            self._consumer.seek(tp, offset)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def read_to_end(self) -> list[ConsumerRecord]:
        """Everything produced until now: reads up to the end offsets as they are at this call."""
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        while await self._behind(ends):
            for records in (await self._consumer.getmany(timeout_ms=500)).values():
                self.records.extend(records)
        return self.records

    async def _behind(self, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return True
        return False

    async def of_firms(self, firm_prefix: str) -> list[ConsumerRecord]:
        """Records of the firms whose ids start with `firm_prefix` (dead letters keep their headers)."""
        records = await self.read_to_end()
        return [r for r in records if (header(r, "ce_firmid") or "").startswith(firm_prefix)]


async def schema_text(schema: str) -> str:
    """Every row of every table of a schema on the shared database, as text (card_data.schema_text)."""
    return await card_data.schema_text(DATABASE_URL, schema)
