"""Session-wide test set-up: one in-memory span exporter for the whole run, and a check that the real
broker and database are up (make test starts them; running pytest alone needs `make infra-up`)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

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


@pytest.hookimpl(trylast=True)  # after any plugin that reorders (pytest-randomly)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_the_run` scan what their whole folder (tests/security, tests/e2e) left behind: each
    runs after every other test of its folder, and still inside it, so the folder's running system (a
    package- or session-scoped fixture) is the one it scans."""
    for folder in dict.fromkeys(item.path.parent for item in items if _after_the_run(item)):
        last = [item for item in items if _after_the_run(item) and item.path.parent == folder]
        rest = [item for item in items if item not in last]
        ours = [k for k, item in enumerate(rest) if folder in item.path.parents]
        at = ours[-1] + 1 if ours else len(rest)
        items[:] = [*rest[:at], *last, *rest[at:]]


def _after_the_run(item: pytest.Item) -> bool:
    return item.get_closest_marker("after_the_run") is not None


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


@pytest.fixture(scope="session")
def axe_core() -> Path:
    """axe-core, where `make setup` installs it, for `testing.serious_accessibility_violations`. Missing: the
    test skips, except in CI (`make test` installs it), where that is a failure, never a quiet pass."""
    script = Path(__file__).resolve().parent / ".local" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if os.environ.get("CI"):
            raise AssertionError(f"axe-core is missing at {script}: run make setup")
        pytest.skip(f"axe-core is missing at {script}: run make setup")
    return script


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
