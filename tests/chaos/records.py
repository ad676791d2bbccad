"""Records the tests put on the topics themselves, as a faulty or outside producer would: poison records,
valid events (markers), and copies of what the services published."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from paylinks_events import (
    BankAccountRegistered,
    BillVoided,
    ContactCreated,
    Envelope,
    Event,
    PaymentFailed,
    PaymentUnlinked,
    PayoutPaid,
    Topic,
    to_record,
    utcnow,
)

SOURCE = "/chaos-suite"
Headers = list[tuple[str, bytes]]
# A type each topic really carries: poison records pretend to be one.
CARRIED: dict[str, str] = {
    Topic.PAYMENT: "PaymentReceived",
    Topic.BILLING: "BillIssued",
    Topic.LINK: "LinkIssued",
    Topic.PRACTICE: "ContactCreated",
    Topic.RECONCILIATION: "PaymentLinked",
    Topic.PAYOUT: "PayoutPaid",
}


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def send(
    kafka: AIOKafkaProducer, topic: str, key: str, value: bytes | None, headers: Headers
) -> RecordMetadata:
    return await kafka.send_and_wait(topic, value=value, key=key.encode(), headers=headers)


async def send_event(kafka: AIOKafkaProducer, event: Event, event_id: str | None = None) -> Envelope:
    """A valid CloudEvents record of `event` (a fresh ce_id unless given)."""
    envelope, _ = await send_event_at(kafka, event, event_id)
    return envelope


async def send_event_at(
    kafka: AIOKafkaProducer, event: Event, event_id: str | None = None
) -> tuple[Envelope, RecordMetadata]:
    """send_event, and where the record landed (its partition and offset)."""
    envelope = Envelope(event=event, source=SOURCE, id=event_id or str(uuid.uuid4()))
    record = to_record(envelope)
    return envelope, await send(kafka, record.topic, record.key.decode(), record.value, record.headers)


def ce_headers(event_type: str, firm_id: str, subject: str) -> Headers:
    attributes = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_source": SOURCE,
        "ce_type": event_type,
        "ce_time": utcnow().isoformat(),
        "ce_subject": subject,
        "ce_firmid": firm_id,
        "content-type": "application/json",
    }
    return [(name, value.encode()) for name, value in attributes.items()]


Build = Callable[[str, str, str], tuple[bytes | None, Headers]]  # (topic, firm, key) -> value, headers


def _carried(topic: str, firm_id: str, key: str) -> Headers:
    return ce_headers(CARRIED[topic], firm_id, key)


def _not_json(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    return b"\xff{not json", _carried(topic, firm_id, key)


def _no_value(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    return None, _carried(topic, firm_id, key)


def _array(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    return b"[1, 2, 3]", _carried(topic, firm_id, key)


def _wrong_schema(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    return json.dumps({"firm_id": firm_id, "amount": "lots"}).encode(), _carried(topic, firm_id, key)


def _no_cloudevents(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    return json.dumps({"firm_id": firm_id}).encode(), [("content-type", b"application/json")]


def _old_specversion(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    headers = [(n, b"0.3" if n == "ce_specversion" else v) for n, v in _carried(topic, firm_id, key)]
    return json.dumps({"firm_id": firm_id}).encode(), headers


def _unknown_type(topic: str, firm_id: str, key: str) -> tuple[bytes | None, Headers]:
    return json.dumps({"firm_id": firm_id}).encode(), ce_headers("PaymentTeleported", firm_id, key)


@dataclass(frozen=True)
class Poison:
    name: str
    dead_lettered: bool  # False: the contract says consumers ignore it (tolerant reader), no DLQ
    build: Build


POISONS = (
    Poison("not JSON", True, _not_json),
    Poison("no value", True, _no_value),
    Poison("data not a JSON object", True, _array),
    Poison("wrong schema", True, _wrong_schema),
    Poison("no CloudEvents headers", True, _no_cloudevents),
    Poison("unsupported ce_specversion", True, _old_specversion),
    Poison("unknown event type", False, _unknown_type),
)


def marker(topic: str, firm_id: str, key: str) -> Event:
    """A valid, harmless event of the topic whose aggregate id is `key` (so: the poison's partition)."""
    now = utcnow()
    events: dict[str, Event] = {
        Topic.PAYMENT: PaymentFailed(firm_id=firm_id, payment_id=key, reason="R01", failed_at=now),
        Topic.BILLING: BillVoided(firm_id=firm_id, bill_id=key, voided_at=now),
        Topic.LINK: BankAccountRegistered(firm_id=firm_id, bank_account_id=key, name="Marker", kind="trust"),
        Topic.PRACTICE: ContactCreated(firm_id=firm_id, contact_id=key, name="Marker Contact"),
        Topic.RECONCILIATION: PaymentUnlinked(
            firm_id=firm_id, payment_id=key, unlinked_by="chaos", reason="marker", unlinked_at=now
        ),
        # an empty payout of an account nobody has: it moves no money
        Topic.PAYOUT: PayoutPaid(
            firm_id=firm_id,
            payout_id=key,
            bank_account_id=f"marker-{key}",
            amount=0,
            arrival_date=now.date(),
            lines=(),
        ),
    }
    return events[topic]
