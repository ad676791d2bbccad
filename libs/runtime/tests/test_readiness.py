"""Readiness names the dependencies a service cannot serve without: a service whose API only writes to
Postgres stays ready while Kafka is down; the others do not."""

from __future__ import annotations

import asyncpg
import pytest

from paylinks_runtime.kafka import make_producer
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.testing import free_socket


def runtime_without_kafka(pool: asyncpg.Pool, *, kafka_gates_readiness: bool) -> ServiceRuntime:
    runtime = ServiceRuntime(ServiceSettings(), kafka_gates_readiness=kafka_gates_readiness)
    runtime.pool = pool
    with free_socket() as unused:  # a port nobody listens on: Kafka is down
        port = unused.getsockname()[1]
    runtime.producer = make_producer(f"127.0.0.1:{port}", "readiness-test")
    return runtime


@pytest.mark.parametrize(
    ("gates", "expected"), [(True, {"postgres": True, "kafka": False}), (False, {"postgres": True})]
)
async def test_kafka_down_fails_readiness_only_where_it_gates_it(
    pool: asyncpg.Pool, gates: bool, expected: dict[str, bool]
) -> None:
    runtime = runtime_without_kafka(pool, kafka_gates_readiness=gates)
    assert await runtime.readiness() == expected
