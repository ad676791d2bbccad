"""Kafka clients with the settings this system relies on, and topic creation at start-up."""

from __future__ import annotations

import asyncio
from typing import Any

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
# How long the set-up waits for the topics it created to be served with their leaders (see _until_served),
# and how often it asks meanwhile.
TOPIC_SERVED_TIMEOUT = 10.0
TOPIC_SERVED_POLL = 0.05


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
    await _until_served(admin, names)


async def _until_served(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until the broker serves the topics' metadata with a leader for every partition.

    The controller answers CreateTopics once it has committed them; a broker learns of them a moment later.
    Meanwhile a producer's first send is told "unknown topic" and aiokafka logs an error before it asks
    again (measured on a new KRaft broker right after it created its offsets topic: 0.2-0.3 s). Not fatal if
    it takes longer: the clients ask again on first use, so after TOPIC_SERVED_TIMEOUT this only warns."""
    pending = names
    try:
        async with asyncio.timeout(TOPIC_SERVED_TIMEOUT):
            while pending := [t["topic"] for t in await admin.describe_topics(pending) if not _served(t)]:
                await asyncio.sleep(TOPIC_SERVED_POLL)
    except TimeoutError:
        log.warning("created topics not served yet", topics=pending, waited_seconds=TOPIC_SERVED_TIMEOUT)


def _served(topic: dict[str, Any]) -> bool:
    """A topic of a metadata answer: known, with partitions, each with a leader."""
    partitions = topic["partitions"]
    return topic["error_code"] == 0 and bool(partitions) and all(p["leader"] >= 0 for p in partitions)


async def kafka_reachable(producer: AIOKafkaProducer, timeout: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancellation on 3.11
            return bool(await producer.client.force_metadata_update())
    except Exception:
        return False
