"""Inbox consumer on the real broker and database: one effect per event id, offsets after the transaction,
poison records to the DLQ, and the trace carried from the appending operation to the consumer's span."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from paylinks_events import ContactCreated, Envelope, Topic, to_record
from paylinks_runtime.dead_letters import DeadLetters
from paylinks_runtime.inbox_consumer import STALL_AFTER_SECONDS, InboxConsumer, each_batch
from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.testing import (
    BOOTSTRAP,
    TopicWatcher,
    consumed_everything,
    eventually,
    header,
    unique,
)
from paylinks_runtime.tracing import current_trace_headers, tracer
from paylinks_runtime.unit_of_work import OutboxSignal, UnitOfWork, Writer


@pytest.fixture
async def effects(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("CREATE TABLE effects (event_id text, contact_id text, name text)")
    return pool


async def record_effect(uow: UnitOfWork, envelope: Envelope) -> None:
    event = envelope.event
    if getattr(event, "name", "") == "explode":
        raise ValueError("this handler cannot apply that event")
    await uow.conn.execute(
        "INSERT INTO effects VALUES ($1, $2, $3)",
        envelope.id,
        event.aggregate_id,
        getattr(event, "name", None),
    )


def contact(firm: str, name: str) -> Envelope:
    return Envelope(ContactCreated(firm_id=firm, contact_id=str(uuid.uuid4()), name=name), source="/t")


async def send(producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> None:
    record = to_record(envelope)
    await producer.send_and_wait(topic, value=record.value, key=record.key, headers=record.headers)


@asynccontextmanager
async def consuming(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    topics: list[str],
    group: str | None = None,
    handler: Callable = record_effect,  # type: ignore[type-arg]
    lag_every_seconds: float = 2.0,
    stall_after_seconds: float = STALL_AFTER_SECONDS,
    start_from: str = "earliest",
) -> AsyncIterator[InboxConsumer]:
    name = group or unique("test-consumer")
    consumer = InboxConsumer(
        name=name,
        topics=topics,
        writer=Writer(pool, "/t"),
        handler=handler,
        dead_letters=DeadLetters(producer, name),
        bootstrap_servers=BOOTSTRAP,
        batch_size=100,
        lag_every_seconds=lag_every_seconds,
        stall_after_seconds=stall_after_seconds,
        start_from=start_from,
    )
    async with running(consumer):
        yield consumer


@asynccontextmanager
async def running(consumer: InboxConsumer) -> AsyncIterator[None]:
    """The consumer started and consuming; cancelled and stopped on the way out."""
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()


async def effect_count(pool: asyncpg.Pool, event_id: str | None = None) -> int:
    if event_id is None:
        return await pool.fetchval("SELECT count(*) FROM effects")
    return await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event_id)


async def test_the_same_event_id_twice_has_one_effect(effects, producer, topic) -> None:  # type: ignore[no-untyped-def]
    twice, other = contact("f", "Ada"), contact("f", "Bo")
    for envelope in (twice, twice, other, twice):
        await send(producer, topic, envelope)
    async with consuming(effects, producer, [topic]) as consumer:
        await eventually(lambda: consumed_everything(consumer))  # a second effect would show
    assert await effect_count(effects, twice.id) == 1
    assert await effect_count(effects) == 2


async def test_a_consumer_killed_before_committing_offsets_reprocesses_without_a_second_effect(
    effects,
    producer,
    topic,
) -> None:
    envelopes = [contact("f", f"n{i}") for i in range(30)]
    for envelope in envelopes:
        await send(producer, topic, envelope)
    group = unique("test-crash")
    crashed = InboxConsumer(
        name=group,
        topics=[topic],
        writer=Writer(effects, "/t"),
        handler=record_effect,
        dead_letters=DeadLetters(producer, group),
        bootstrap_servers=BOOTSTRAP,
    )
    await crashed.start()
    applied = 0
    while applied < len(envelopes):  # apply in the database, never commit offsets: then "die"
        batch = await crashed._consumer.getmany(timeout_ms=1000)  # type: ignore[union-attr]
        await crashed.process(batch)
        applied += sum(len(r) for r in batch.values())
    await crashed.stop()
    assert await effect_count(effects) == 30

    async with consuming(effects, producer, [topic], group=group):
        await eventually(lambda: inbox_has_redelivery(effects, group))
    assert await effect_count(effects) == 30


async def inbox_has_redelivery(pool: asyncpg.Pool, group: str) -> bool:
    from paylinks_runtime.metrics import EVENTS_DUPLICATE

    return EVENTS_DUPLICATE.labels(group)._value.get() >= 30


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"this is not json", "not UTF-8 JSON"), (b'{"contact_id": "c1"}', "failed validation")],
)
async def test_a_poison_record_goes_to_the_dlq_and_the_next_record_is_processed(
    effects,
    producer,
    topic,
    value: bytes,
    reason: str,
) -> None:
    poison, after = contact("f", "poison"), contact("f", "after")
    poison_record = to_record(poison)
    async with TopicWatcher(f"{topic}.dlq") as dlq:
        await producer.send_and_wait(
            topic, value=value, key=b"k-poison", headers=poison_record.headers, partition=0
        )
        await send(producer, topic, after)
        async with consuming(effects, producer, [topic]) as consumer:
            await eventually(lambda: effect_count(effects, after.id))
            (dead,) = await dlq.wait_for(lambda r: r.key == b"k-poison")

    assert dead.value == value
    assert reason in header(dead, "dlq_reason")  # type: ignore[operator]
    assert header(dead, "dlq_original_topic") == topic
    assert header(dead, "dlq_original_partition") == "0"
    assert header(dead, "dlq_original_offset") is not None
    assert header(dead, "dlq_consumer") == consumer.name
    assert header(dead, "ce_id") == poison.id  # the original headers travel along
    assert await effect_count(effects, poison.id) == 0


async def test_a_record_its_handler_cannot_apply_is_dead_lettered_and_the_rest_applied(
    effects,
    producer,
    topic,
) -> None:
    before, bad, after = contact("f", "before"), contact("f", "explode"), contact("f", "after")
    async with TopicWatcher(f"{topic}.dlq") as dlq:
        for envelope in (before, bad, after):
            await send(producer, topic, envelope)
        async with consuming(effects, producer, [topic]):
            # the three keys may sit on three partitions, read in any order: wait for both good ones
            await eventually(lambda: effect_count(effects, after.id))
            await eventually(lambda: effect_count(effects, before.id))
            (dead,) = await dlq.wait_for(lambda r: header(r, "ce_id") == bad.id)
    assert "cannot apply" in header(dead, "dlq_reason")  # type: ignore[operator]
    assert await effect_count(effects, before.id) == 1
    assert await effect_count(effects, bad.id) == 0


def applied_metrics(consumer: str) -> tuple[float | None, float | None]:
    """(events applied, visibility observations) of ContactCreated, as /metrics shows them."""
    labels = {"consumer": consumer, "type": "ContactCreated"}
    return (
        REGISTRY.get_sample_value("paylinks_events_applied_total", labels),
        REGISTRY.get_sample_value("paylinks_event_visibility_seconds_count", labels),
    )


async def test_a_batch_s_metrics_are_reported_though_no_batch_follows_it(effects, producer, topic) -> None:  # type: ignore[no-untyped-def]
    """A batch's metrics are taken as the next fetch goes on, not at its commit: an idle consumer's next
    (empty) poll reports them too."""
    only = contact("f", "only")
    await send(producer, topic, only)
    name = unique("metrics")
    async with consuming(effects, producer, [topic], group=name):
        await eventually(lambda: effect_count(effects, only.id))
        await eventually(lambda: applied_metrics(name) == (1.0, 1.0))


async def test_unknown_event_types_are_skipped_without_dead_lettering(effects, producer, topic) -> None:  # type: ignore[no-untyped-def]
    unknown, known = contact("f", "unknown"), contact("f", "known")
    record = to_record(unknown)
    headers = [(k, b"ContactMerged" if k == "ce_type" else v) for k, v in record.headers]
    async with TopicWatcher(f"{topic}.dlq") as dlq:
        await producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
        await send(producer, topic, known)
        async with consuming(effects, producer, [topic]) as consumer:
            await eventually(lambda: consumed_everything(consumer))
        dead_lettered = await dlq.arrived()  # a dead letter is sent before the offsets are committed
    assert await effect_count(effects) == 1
    assert dead_lettered == 0


async def test_the_appending_operations_trace_reaches_the_consumers_span(effects, producer, spans) -> None:  # type: ignore[no-untyped-def]
    firm = f"firm-{uuid.uuid4()}"
    writer = Writer(effects, "/t", OutboxSignal())
    with tracer().start_as_current_span("staff request"):
        trace_id = current_trace_headers()["traceparent"].split("-")[1]
        async with writer.unit_of_work() as uow:
            (envelope,) = await uow.publish(ContactCreated(firm_id=firm, contact_id="c-traced", name="T"))
    relay = OutboxRelay(effects, producer, service="t", signal=OutboxSignal())
    await relay.publish_batch()

    async with consuming(effects, producer, [Topic.PRACTICE]) as consumer:
        await eventually(lambda: effect_count(effects, envelope.id), timeout=60)

    finished = spans.get_finished_spans()
    (publish,) = [
        s
        for s in finished
        if s.attributes.get("messaging.message.id") == envelope.id and s.name.startswith("send ")
    ]
    (process,) = [
        s
        for s in finished
        if s.attributes.get("messaging.message.id") == envelope.id
        and s.attributes.get("messaging.consumer.group.name") == consumer.name  # not another test's consumer
    ]
    assert format(process.context.trace_id, "032x") == trace_id
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id


async def test_a_batch_handler_gets_each_fresh_event_once_in_one_call_and_a_linked_span(
    effects,
    producer,
    topic,
    spans,
) -> None:
    calls: list[list[str]] = []

    async def apply_batch(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
        calls.append([e.id for e in envelopes])
        for envelope in envelopes:
            await record_effect(uow, envelope)

    with tracer().start_as_current_span("publishing side"):
        traceparent = current_trace_headers()["traceparent"]
        envelopes = [
            Envelope(
                ContactCreated(firm_id="f", contact_id=f"c{i}", name=f"n{i}"),
                source="/t",
                traceparent=traceparent,
            )
            for i in range(5)
        ]
    for envelope in [*envelopes, envelopes[0], envelopes[3]]:
        await send(producer, topic, envelope)
    name = unique("test-batch")
    consumer = InboxConsumer(
        name=name,
        topics=[topic],
        writer=Writer(effects, "/t"),
        batch_handler=each_batch(apply_batch),
        dead_letters=DeadLetters(producer, name),
        bootstrap_servers=BOOTSTRAP,
    )
    await consumer.start()
    try:
        applied = 0
        while applied < 7:
            batch = await consumer._consumer.getmany(timeout_ms=1000)  # type: ignore[union-attr]
            await consumer.process(batch)
            applied += sum(len(r) for r in batch.values())
    finally:
        await consumer.stop()

    assert sorted(i for call in calls for i in call) == sorted(e.id for e in envelopes)
    assert await effect_count(effects) == 5
    batch_spans = [
        s for s in spans.get_finished_spans() if s.attributes.get("messaging.consumer.group.name") == name
    ]
    linked = {format(link.context.trace_id, "032x") for s in batch_spans for link in s.links}
    parents = {format(s.context.trace_id, "032x") for s in batch_spans if s.parent is not None}
    assert traceparent.split("-")[1] in linked | parents
