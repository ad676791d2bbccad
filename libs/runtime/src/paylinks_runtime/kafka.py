"""Kafka clients with the settings this system relies on, and topic creation at start-up."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from paylinks_events import ALL_TOPICS, dlq_topic

log = structlog.get_logger(__name__)

EVENT_TOPIC_CONFIG = {"retention.ms": "-1"}  # projections must be rebuildable by replay


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
    """Create the topics that are missing; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="paylinks-admin")
    await admin.start()
    try:
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
