"""Session-wide test set-up: one in-memory span exporter for the whole run, and a check that the real
broker and database are up (make test starts them; running pytest alone needs `make infra-up`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
trace.set_tracer_provider(_PROVIDER)


@pytest.fixture(scope="session")
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    """One Kafka producer for the whole run, configured as the services' own (idempotent, acks from all
    in-sync replicas): for the tests that publish events as another system would."""
    from paylinks_runtime.kafka import make_producer
    from paylinks_runtime.testing import BOOTSTRAP

    producer = make_producer(BOOTSTRAP, "tests")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _EXPORTER.clear()
    return _EXPORTER


def _reachable(hostport: str) -> bool:
    host, _, port = hostport.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _infrastructure(request: pytest.FixtureRequest) -> None:
    if all(item.get_closest_marker("unit") for item in request.session.items):
        return
    from paylinks_runtime.testing import BOOTSTRAP

    if not _reachable(BOOTSTRAP):
        pytest.exit(f"Kafka is not reachable at {BOOTSTRAP}: run `make infra-up` (make test does it)", 2)
    from paylinks_runtime.kafka import contract_topics, ensure_topics

    asyncio.run(ensure_topics(BOOTSTRAP, contract_topics()))
