"""A service process's moving parts, started and stopped together: Postgres pool and migrations, topics,
the Kafka producer, the outbox relay, the inbox consumers and any background task of the service."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from .db import open_database, postgres_reachable
from .dead_letters import DeadLetters
from .heap import freeze_start_up_objects, size_generations_for_batches
from .inbox_consumer import BatchHandler, Handler, InboxConsumer
from .inbox_retention import keep_inbox_trimmed
from .kafka import contract_topics, ensure_topics, kafka_reachable, make_producer
from .outbox_relay import OutboxRelay
from .settings import ServiceSettings
from .unit_of_work import OutboxSignal, Writer

log = structlog.get_logger(__name__)

BackgroundTask = Callable[["ServiceRuntime"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str  # the consumer group id, and the inbox's consumer name
    topics: Sequence[str]
    handler: Handler | None = None  # per event, or
    batch_handler: BatchHandler[Any] | None = None  # per batch (see inbox_consumer)
    # For an idempotent batch handler: offsets stored in its transaction instead of an inbox row per event.
    offsets_in_transaction: bool = False
    # For a batch handler that calls inbox_consumer.database_busy() before its long statement.
    decode_when_database_busy: bool = False


class ServiceRuntime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        migrations: Path | None = None,
        consumers: Sequence[ConsumerSpec] = (),
        background: Sequence[BackgroundTask] = (),
        kafka_gates_readiness: bool = True,
    ) -> None:
        self.settings = settings
        # False for a service whose API only writes to Postgres (its outbox waits for Kafka): it stays
        # ready, and keeps taking requests, while only Kafka is down.
        self._kafka_gates_readiness = kafka_gates_readiness
        self.source = f"/{settings.service_name}"
        self._migrations = migrations
        self._consumer_specs = list(consumers)
        self._background = list(background)
        self.signal = OutboxSignal()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[InboxConsumer] = []
        self.pool: asyncpg.Pool
        self.producer: AIOKafkaProducer
        self.writer: Writer
        self.start_up_seconds: dict[str, float] = {}  # each part of start(), as its log line gives them

    async def start(self) -> None:
        s = self.settings
        took = functools.partial(_timed, self.start_up_seconds)  # what a slow restart waited on
        with took("database"):
            # The runtime and its services leave no session state (the migration lock is unlocked explicitly).
            self.pool = await open_database(
                s.database_url,
                s.db_schema,
                max_size=s.db_pool_max_size,
                reset_sessions=False,
                migrations=self._migrations,
            )
        with took("topics"):
            await ensure_topics(
                s.kafka_bootstrap_servers,
                contract_topics(),
                partitions=s.kafka_topic_partitions,
                replication_factor=s.kafka_replication_factor,
            )
        with took("producer"):
            self.producer = make_producer(s.kafka_bootstrap_servers, s.service_name)
            await self.producer.start()
        self.writer = Writer(self.pool, self.source, self.signal)
        relay = OutboxRelay(
            self.pool,
            self.producer,
            service=s.service_name,
            signal=self.signal,
            batch_size=s.outbox_batch_size,
        )
        self._spawn("outbox-relay", relay.run())
        with took("consumers"):
            for spec in self._consumer_specs:
                await self._start_consumer(spec)
        if self._consumer_specs:
            retention = timedelta(days=s.inbox_retention_days)
            trimming = keep_inbox_trimmed(
                self.pool,
                service=s.service_name,
                retention=retention,
                interval_seconds=s.inbox_prune_interval_seconds,
            )
            self._spawn("inbox-retention", trimming)
        for task in self._background:
            self._spawn(task.__name__, task(self))
        with took("heap"):
            freeze_start_up_objects()
            if any(spec.batch_handler is not None for spec in self._consumer_specs):
                size_generations_for_batches()
        parts = {f"{part}_seconds": round(seconds, 3) for part, seconds in self.start_up_seconds.items()}
        log.info("service started", service=s.service_name, **parts)

    async def _start_consumer(self, spec: ConsumerSpec) -> None:
        name = f"{self.settings.consumer_group_prefix}{spec.name}"
        consumer = InboxConsumer(
            name=name,
            topics=spec.topics,
            writer=self.writer,
            handler=spec.handler,
            batch_handler=spec.batch_handler,
            dead_letters=DeadLetters(self.producer, name),
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            batch_size=self.settings.consumer_batch_size,
            start_from=self.settings.consumer_start,
            offsets_in_transaction=spec.offsets_in_transaction,
            decode_when_database_busy=spec.decode_when_database_busy,
        )
        await consumer.start()
        self._consumers.append(consumer)
        self._spawn(f"consumer {spec.name}", consumer.run())

    def _spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for consumer in self._consumers:
            await consumer.stop()
        await self.producer.stop()
        await self.pool.close()
        log.info("service stopped", service=self.settings.service_name)

    async def readiness(self) -> dict[str, bool]:
        """The dependencies this service cannot serve without, each reachable or not."""
        checks = {"postgres": await postgres_reachable(self.pool)}
        if self._kafka_gates_readiness:
            checks["kafka"] = await kafka_reachable(self.producer)
        return checks


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task crashed", task=task.get_name(), error=repr(task.exception()))


@contextlib.contextmanager
def _timed(seconds: dict[str, float], part: str) -> Iterator[None]:
    """`seconds[part]`: the wall-clock seconds of the block."""
    began = time.perf_counter()
    try:
        yield
    finally:
        seconds[part] = time.perf_counter() - began
