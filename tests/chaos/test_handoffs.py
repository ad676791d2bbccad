"""The two hand-offs between Postgres and Kafka, each made certain to be crossed by a fault:

- an event committed while Kafka is down is published once Kafka is back (the outbox: events and their
  outbox rows in one transaction, the relay publishing after commit until the broker acks);
- a batch a consumer was applying when it died is applied after its restart (offsets are committed only
  after the batch's transaction: a consumer killed while the batch waits for Postgres has committed nothing).

Without either protection the event or the batch is lost, silently (mutations `outbox` and `offset_order`)."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import pytest

from paylinks_events import Topic
from paylinks_runtime.testing import eventually

from .evidence import applied, header, read_topics
from .records import marker, producer, send_event_at
from .report import ChaosReport
from .system import ChaosSystem
from .workload import ACCOUNT_CARD, PlannedPayment, open_firm, pay_body

pytestmark = pytest.mark.timeout(300)
CONSUMER = "reconciliation-service"
RETRYING = "consumer batch not applied; retrying"


async def test_an_event_committed_while_kafka_is_down_is_published_when_it_is_back(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "outbox")
    plan = PlannedPayment(str(uuid.uuid4()), firm.firm_id, firm.account_token, ACCOUNT_CARD, 4_200)
    body = await pay_body(system, plan)
    await system.infra.kill_kafka()
    try:
        response = await firm.api.raw(
            "POST",
            "link-service",
            f"/v1/pay/{plan.token}/payments",
            public=True,
            json=body,
            headers={"Idempotency-Key": plan.key},
        )
        assert response.status_code == 202, response.text  # intake needs Postgres only
    finally:
        await system.infra.start_kafka()
    chaos_report.add("faults", "kafka down while a payment was committed")
    payment_id = str(response.json()["payment_id"])

    await eventually(partial(_published, system, payment_id), timeout=120)
    chaos_report.add("checked", "events committed while kafka was down, published after")


async def _published(system: ChaosSystem, payment_id: str) -> bool:
    records = await read_topics(system.infra.bootstrap, [Topic.PAYMENT])
    return any(
        header(r, "ce_type") == "PaymentReceived" and header(r, "ce_subject") == payment_id for r in records
    )


async def test_a_batch_its_consumer_died_on_is_applied_after_the_restart(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    # With replicas the group's two members split the partitions: either may hold the batch.
    logs = [system.stack.log_path(CONSUMER)]
    if CONSUMER in system.replica_ports:
        logs.append(system.replica_log(CONSUMER))
    seen = {log: log.stat().st_size for log in logs}
    await system.infra.stop_postgres_immediately()
    try:
        async with producer(system.infra.bootstrap) as kafka:
            event, at = await send_event_at(kafka, marker(Topic.PAYMENT, "firm-handoff", str(uuid.uuid4())))
        # a consumer holds the batch, waiting for Postgres: the moment every member dies in
        await eventually(partial(_logged_since, seen, RETRYING), timeout=60)
        await system.stack.kill(CONSUMER)
        if CONSUMER in system.replicas:
            await system.kill_replica(CONSUMER)
    finally:
        await system.infra.start_postgres()
    chaos_report.add("faults", "consumer SIGKILLed while its batch waited for postgres")
    await system.stack.start_service(CONSUMER)
    await system.stack.wait_ready(CONSUMER)
    if CONSUMER in system.replicas:
        await system.start_replica(CONSUMER)

    await eventually(partial(applied, system, CONSUMER, event.id, at), timeout=60)
    chaos_report.add("checked", "batches applied after their consumer died")


def _logged_since(offsets: dict[Path, int], text: str) -> bool:
    """Whether any of the logs has the text past its offset."""
    for log, offset in offsets.items():
        with log.open("rb") as file:
            file.seek(offset)
            if text.encode() in file.read():
                return True
    return False
