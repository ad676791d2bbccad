"""20 processed payments worth more than the bill race on it along three paths at once: published on
payment.events (spread over partitions) and consumed by two billing-service instances with consumer groups
(hence inboxes) of their own, while the same payments are applied through the command layer of both.
Every payment thus reaches the bill four times, concurrently: the inbox cannot help across instances, so
only the aggregate (once per payment_id) and optimistic concurrency (retry a lost append) keep it exact."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from billing_service.commands import apply_payment
from billing_service.reactions import CONSUMER_NAME
from billing_service.tables import billing_writer
from paylinks_events import Topic
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.testing import TopicWatcher, eventually, header

BILL_AMOUNT = 10_000
AMOUNTS = [500 + 37 * i for i in range(20)]  # 17,030 in all: 7,030 more than the bill


async def test_racing_payments_never_overdraw_and_apply_once(world, client, firm, second_instance) -> None:  # type: ignore[no-untyped-def]
    instances = [world.runtime, second_instance]
    conflicts_before = await write_conflicts(client)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        bill_id = (await world.issue_bill(firm, amount=BILL_AMOUNT))["bill_id"]
        payments = [world.processed(firm, bill_id, amount) for amount in AMOUNTS]
        partitions = await race(world, instances, payments)
        stream = await event_types(world.runtime, bill_id)
        records = await billing_events.wait_for(
            lambda r: header(r, "ce_subject") == bill_id, count=len(stream)
        )

    assert len(partitions) > 1, "the payments should be spread over partitions"
    assert [header(r, "ce_type") for r in records] == stream
    applied = [json.loads(r.value) for r in records if header(r, "ce_type") == "BillPaymentApplied"]
    unallocated = [json.loads(r.value) for r in records if header(r, "ce_type") == "PaymentUnallocated"]
    assert sum(e["amount"] for e in applied) == BILL_AMOUNT
    assert sum(e["amount"] for e in applied + unallocated) == sum(AMOUNTS)
    assert max(Counter(e["payment_id"] for e in applied).values()) == 1
    assert max(Counter(e["payment_id"] for e in unallocated).values()) == 1
    assert {e["payment_id"] for e in applied + unallocated} == {p.payment_id for p in payments}
    balances = [e["balance"] for e in applied]
    assert balances == sorted(balances, reverse=True)
    assert balances[-1] == 0
    assert stream.count("BillPaid") == 1

    final = await world.bill(firm, bill_id)
    assert (final["state"], final["balance"], len(final["payments"])) == ("paid", 0, len(applied))
    assert await write_conflicts(client) > conflicts_before, "the race never exercised optimistic concurrency"


async def race(world: Any, instances: list[ServiceRuntime], payments: list[Any]) -> set[int]:
    """Publish the payments and apply them through both instances at once; return when both instances'
    consumers have taken every record. Returns the partitions the records went to."""
    ce_ids = [str(uuid.uuid4()) for _ in payments]
    published = [
        asyncio.ensure_future(world.publish(p, ce_id=i)) for p, i in zip(payments, ce_ids, strict=True)
    ]
    await asyncio.gather(*(apply_payment(billing_writer(r.writer), p) for p in payments for r in instances))
    sent = await asyncio.gather(*published)
    await eventually(lambda: consumed_by_all(instances, ce_ids), timeout=60)
    return {metadata.partition for metadata in sent}


async def consumed_by_all(instances: list[ServiceRuntime], ce_ids: list[str]) -> bool:
    consumers = [r.settings.consumer_group_prefix + CONSUMER_NAME for r in instances]
    done = await instances[0].pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = ANY($1) AND event_id = ANY($2)", consumers, ce_ids
    )
    return bool(done == len(consumers) * len(ce_ids))


async def event_types(runtime: ServiceRuntime, bill_id: str) -> list[str]:
    rows = await runtime.pool.fetch(
        "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version", bill_id
    )
    return [r["event_type"] for r in rows]


async def write_conflicts(client: httpx.AsyncClient) -> float:
    """billing_bill_write_conflicts_total as GET /metrics reports it."""
    for family in text_string_to_metric_families((await client.get("/metrics")).text):
        if family.name == "billing_bill_write_conflicts":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0
