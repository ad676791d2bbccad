"""End-to-end harness: the four services as real processes (own ports, schemas and consumer groups) on the
real broker, database and an SMTP sink, exporting their spans over OTLP to a receiver in the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from paylinks_devstack.client import PaylinksClient
from paylinks_devstack.mailbox import Mailbox
from paylinks_devstack.stack import Stack, StackConfig
from paylinks_runtime.testing import JWT_SECRET, drop_schema

from .otlp_receiver import OtlpReceiver


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
async def stack(otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
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
        await stack.start()
        yield stack
    finally:
        await stack.stop()
        for schema in config.schemas.values():
            await drop_schema(schema)


@pytest.fixture
async def firm(stack: Stack) -> AsyncIterator[PaylinksClient]:
    client = PaylinksClient(stack.config, f"firm-e2e-{uuid.uuid4().hex[:8]}", JWT_SECRET)
    yield client
    await client.close()


@pytest.fixture
def mailbox(stack: Stack) -> Mailbox:
    return Mailbox(stack.config.maildir)
