"""Kafka clients with the settings this system relies on, and topic creation at start-up."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from paylinks_events import ALL_TOPICS, dlq_topic

from .retry import Backoff, retry

log = structlog.get_logger(__name__)

EVENT_TOPIC_CONFIG = {"retention.ms": "-1"}  # projections must be rebuildable by replay
# Between tries of the topic set-up while the cluster cannot answer (see ensure_topics).
TOPIC_SETUP_BACKOFF = Backoff(0.2, cap=5.0)


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """Idempotent producer, acks from all in-sync replicas: what the outbox relay and DLQ need."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


def contract_topics(topics: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    return [name for topic in topics for name in (topic, dlq_topic(topic))]


async def ensure_topics(
    bootstrap_servers: str, topics: list[str], *, partitions: int = 6, replication_factor: int = 1
) -> list[str]:
    """Create the topics that are missing; return the ones created.

    A cluster that cannot answer yet (a broker down: the admin client sends to a random known broker and
    fails at once on a dead one; the whole cluster restarting) is waited for, trying again, never fatal:
    a service started during a Kafka outage used to exit at start-up (uvicorn's exit code 3)."""

    def not_ready(exc: Exception, wait: float) -> None:
        log.warning("kafka not ready for the topic set-up; retrying", error=repr(exc), retry_in_seconds=wait)

    return await retry(
        lambda: _ensure_topics(bootstrap_servers, topics, partitions, replication_factor),
        backoff=TOPIC_SETUP_BACKOFF,
        retry_if=retriable_kafka_error,
        on_retry=not_ready,
    )


def retriable_kafka_error(exc: Exception) -> bool:
    """A Kafka error the client says may pass if asked again (no leader yet, a coordinator loading)."""
    return isinstance(exc, KafkaError) and bool(exc.retriable)


async def _ensure_topics(
    bootstrap_servers: str, topics: list[str], partitions: int, replication_factor: int
) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="paylinks-admin")
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            await _create(admin, missing, partitions, replication_factor)
        return missing
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, names: list[str], partitions: int, replication: int) -> None:
    new = [NewTopic(n, partitions, replication, topic_configs=EVENT_TOPIC_CONFIG) for n in names]
    try:
        await admin.create_topics(new)
        log.info("topics created", topics=names)
    except TopicAlreadyExistsError:
        pass  # another service created them between our list and create
    await asyncio.sleep(0)  # creation is asynchronous on the broker; metadata catches up on first use


async def kafka_reachable(producer: AIOKafkaProducer, timeout: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancellation on 3.11
            return bool(await producer.client.force_metadata_update())
    except Exception:
        return False
