"""Poison records on every consumed topic: each consumer of the topic puts them in `<topic>.dlq` (with the
`dlq_*` headers naming it), keeps going (a valid event published after them, on the same partition, is
applied), and its lag returns to zero, as Kafka's committed offsets and the service's /metrics both say.

An event type nobody knows is not poison: the contract makes consumers tolerant readers that skip it.

Protection exercised: the inbox consumer's dead-letter path. Without it a poison record either stops the
consumer (the marker is never applied, the lag never returns to zero) or vanishes (no DLQ record)."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import cast

import httpx
import pytest
from aiokafka.structs import ConsumerRecord

from paylinks_events import ALL_TOPICS, Topic, dlq_topic
from paylinks_runtime.kafka import ensure_topics
from paylinks_runtime.testing import eventually

from .evidence import applied, consumer_lag, delete_topic, header, read_topics
from .records import POISONS, marker, producer, send, send_event_at
from .report import ChaosReport
from .system import CONSUMED, ChaosSystem

pytestmark = pytest.mark.timeout(300)
DLQ_OUTAGE_SECONDS = 20.0  # above make_producer's request timeout (15 s): the DLQ write really fails
DLQ_HEADERS = ("dlq_reason", "dlq_original_topic", "dlq_original_partition", "dlq_original_offset")


@pytest.mark.parametrize("topic", ALL_TOPICS)
async def test_poison_records_go_to_the_dead_letter_topic_and_consumers_keep_going(
    system: ChaosSystem, chaos_report: ChaosReport, topic: str
) -> None:
    firm_id, key = f"firm-poison-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    sent: dict[int, tuple[str, bytes | None]] = {}  # offset -> (poison, value)
    async with producer(system.infra.bootstrap) as kafka:
        for poison in POISONS:
            value, headers = poison.build(topic, firm_id, key)
            sent[(await send(kafka, topic, key, value, headers)).offset] = (poison.name, value)
        after, after_at = await send_event_at(
            kafka, marker(topic, firm_id, key)
        )  # same key: same partition, after them
    chaos_report.add("inputs", f"poison records on {topic}", len(POISONS))
    poisoned = {offset for offset, (name, _) in sent.items() if _is_poison(name)}

    for service in [s for s, topics in CONSUMED.items() if topic in topics]:
        await eventually(partial(applied, system, service, after.id, after_at), timeout=60)
        found = await eventually(
            partial(_dead_letters, system, service, topic, key, len(poisoned)), timeout=30
        )
        dead = cast(list[ConsumerRecord], found)
        assert sorted(_original_offset(r) for r in dead) == sorted(poisoned), service
        assert all(r.value == sent[_original_offset(r)][1] for r in dead)  # the original record, unchanged
        assert all(header(r, name) for r in dead for name in DLQ_HEADERS)
        assert {header(r, "dlq_original_topic") for r in dead} == {topic}
        chaos_report.add("checked", "dead-letter records", len(dead))
    await eventually(lambda: _caught_up(system), timeout=60)
    chaos_report.add("checked", "consumer groups back to zero lag", len(CONSUMED))


def _is_poison(name: str) -> bool:
    return next(p for p in POISONS if p.name == name).dead_lettered


def _original_offset(record: ConsumerRecord) -> int:
    return int(header(record, "dlq_original_offset") or -1)


async def _dead_letters(
    system: ChaosSystem, service: str, topic: str, key: str, expected: int
) -> list[ConsumerRecord]:
    """This consumer's dead letters of the test's records, once all of them are there."""
    records = await read_topics(system.infra.bootstrap, [dlq_topic(topic)])
    group = system.group(service)
    mine = [r for r in records if r.key == key.encode() and header(r, "dlq_consumer") == group]
    return mine if len(mine) >= expected else []


async def _caught_up(system: ChaosSystem) -> bool:
    """Committed offsets at the ends of the topics, and every service's /metrics lag gauge at zero."""
    if any((await consumer_lag(system)).values()):
        return False
    async with httpx.AsyncClient(timeout=5.0) as http:
        for service in CONSUMED:
            for url in system.urls(service):  # every member of the group: each has its partitions
                metrics = (await http.get(f"{url}/metrics")).text
                if any(v != 0 for v in _lag_gauges(metrics, system.group(service))):
                    return False
    return True


def _lag_gauges(metrics: str, group: str) -> list[float]:
    prefix = "paylinks_consumer_lag{"
    return [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(prefix) and f'consumer="{group}"' in line
    ]


async def test_a_consumer_outlives_a_dead_letter_topic_it_cannot_write_to_for_a_while(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    """The DLQ write fails (the topic is gone for DLQ_OUTAGE_SECONDS, longer than the producer's request
    timeout): the consumer must keep the record and retry, not die. Dead, it would apply nothing more
    while its process goes on answering /readyz 200."""
    topic, firm_id, key = Topic.LINK, f"firm-dlq-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    readers = [s for s, topics in CONSUMED.items() if topic in topics]
    await delete_topic(system.infra.bootstrap, dlq_topic(topic))
    try:
        async with producer(system.infra.bootstrap) as kafka:
            value, headers = POISONS[0].build(topic, firm_id, key)
            await send(kafka, topic, key, value, headers)
            after, after_at = await send_event_at(kafka, marker(topic, firm_id, key))
        await asyncio.sleep(DLQ_OUTAGE_SECONDS)  # the outage itself: the fault, not a wait for a result
    finally:
        await ensure_topics(system.infra.bootstrap, [dlq_topic(topic)])
    chaos_report.add("faults", "dead-letter topic unavailable", 1)

    try:
        for service in readers:
            await eventually(partial(applied, system, service, after.id, after_at), timeout=20)
            await eventually(partial(_dead_letters, system, service, topic, key, 1), timeout=30)
        await eventually(lambda: _caught_up(system), timeout=60)
    finally:
        await _note_readiness(system, readers, chaos_report)
        for service in readers:  # a dead consumer would fail every test after this one
            await system.restart(service)


async def _note_readiness(system: ChaosSystem, services: list[str], report: ChaosReport) -> None:
    async with httpx.AsyncClient(timeout=5.0) as http:
        for service in services:
            status = (await http.get(f"{system.url(service)}/readyz")).status_code
            lag = (await consumer_lag(system))[service]
            report.readiness.append(f"after the dead-letter outage: {service} {status}, lag {lag}")
