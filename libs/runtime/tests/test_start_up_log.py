"""A start-up says how long each part of it took (in its log line, "service started"): a restart that takes
seconds (a consumer waiting for its group to give it partitions, the database slow to answer) is read off
one line."""

from __future__ import annotations

import time

from paylinks_events import Envelope
from paylinks_runtime.inbox_consumer import each_batch
from paylinks_runtime.service import ConsumerSpec, ServiceRuntime
from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, drop_schema, unique
from paylinks_runtime.unit_of_work import UnitOfWork

PARTS = ("database", "topics", "producer", "consumers", "heap")


async def _nothing(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    pass


async def test_a_start_up_has_the_seconds_of_each_part(topic: str) -> None:
    schema = unique("test_start_up")
    settings = ServiceSettings(kafka_bootstrap_servers=BOOTSTRAP, database_url=DATABASE_URL, db_schema=schema)
    consumer = ConsumerSpec(name=unique("start-up"), topics=(topic,), batch_handler=each_batch(_nothing))
    runtime = ServiceRuntime(settings, consumers=[consumer])
    began = time.perf_counter()
    await runtime.start()
    took = time.perf_counter() - began
    try:
        seconds = runtime.start_up_seconds
        assert sorted(seconds) == sorted(PARTS)
        assert all(isinstance(s, float) and s >= 0 for s in seconds.values()), seconds
        assert sum(seconds.values()) <= took  # parts of the start, each timed once
        assert seconds["consumers"] > 0  # joining the group takes a broker's round trips at least
    finally:
        await runtime.stop()
        await drop_schema(schema)
