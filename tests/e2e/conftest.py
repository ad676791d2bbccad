"""End-to-end harness: the four services and the sandbox processor as real processes (own ports, schemas and
consumer groups) on the real broker, database and an SMTP sink, exporting their spans over OTLP to a receiver
in the test."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from paylinks_devstack.client import PaylinksClient
from paylinks_devstack.mailbox import Mailbox
from paylinks_devstack.stack import Stack, StackConfig
from paylinks_runtime.kafka import contract_topics, ensure_topics
from paylinks_runtime.testing import BOOTSTRAP, JWT_SECRET, drop_schema

from .otlp_receiver import OtlpReceiver


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
async def kafka_before_the_run() -> dict[TopicPartition, int]:
    """The end offsets of the contract topics and their dead-letter topics before the stack starts: what the
    run produced comes after them (test_no_card_data_after_the_run reads it)."""
    await ensure_topics(BOOTSTRAP, contract_topics())
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        topics = contract_topics()
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
async def stack(
    otlp: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
    kafka_before_the_run: dict[TopicPartition, int],
) -> AsyncIterator[Stack]:
    run_id = f"e2e{uuid.uuid4().hex[:8]}"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "SANDBOX_CARD_SETTLE_SECONDS": "0.5",
        "SANDBOX_ECHECK_SETTLE_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }
    config = StackConfig.isolated(Path(tmp_path_factory.mktemp("stack")), run_id, env)
    stack = Stack(config)
    try:
        await start_at_the_end(f"{run_id}-")
        await stack.start()
        yield stack
    finally:
        await stack.stop()
        for schema in config.schemas.values():
            await drop_schema(schema)


@pytest.fixture
async def firm(stack: Stack) -> AsyncIterator[PaylinksClient]:
    client = PaylinksClient(stack.config, f"{firm_prefix(stack)}{uuid.uuid4().hex[:8]}", JWT_SECRET)
    yield client
    await client.close()


def firm_prefix(stack: Stack) -> str:
    """Every firm of this run has an id starting with it (its records on the shared topics are told apart)."""
    return f"firm-{stack.config.env['CONSUMER_GROUP_PREFIX']}"


@pytest.fixture
def mailbox(stack: Stack) -> Mailbox:
    return Mailbox(stack.config.maildir)


async def start_at_the_end(group_prefix: str) -> None:
    """Commit the topics' end offsets for the run's consumer groups before the services start: the shared
    topics hold every earlier run's events, and replaying them all (tens of thousands) before this run's
    first email is not what these tests are about. Nothing of this run can be skipped: it comes after."""
    await ensure_topics(BOOTSTRAP, contract_topics())
    for package in ("link_service", "billing_service", "reconciliation_service", "notifier"):
        runtime = importlib.import_module(f"{package}.app").create_app().state.runtime
        for spec in runtime._consumer_specs:
            await _commit_ends(group_prefix + spec.name, spec.topics)


async def _commit_ends(group: str, topics: Sequence[str]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()
