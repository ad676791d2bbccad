"""The events the benchmarks write: realistic PaymentReceived payloads, optionally on a private topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from paylinks_events import Envelope, KafkaRecord, PaymentReceived, to_record
from paylinks_runtime.aggregate import Aggregate

FIRM_ID = "bench-firm"
SOURCE = "/bench"


def routed_to(topic: str) -> type[PaymentReceived]:
    """PaymentReceived whose records go to `topic` instead of the contract's `payment.events`.

    Same type name, fields and encoding, so the runtime writes byte-for-byte the rows and records it
    writes in production; only the outbox row's topic column differs.
    """
    return type("PaymentReceived", (PaymentReceived,), {"topic": topic, "__module__": __name__})


def payment_received(cls: type[PaymentReceived] = PaymentReceived) -> PaymentReceived:
    """One payment of a new payer-facing link, with the size and shape of a real one (~480 bytes)."""
    return cls(
        payment_id=str(uuid.uuid4()),
        firm_id=FIRM_ID,
        bank_account_id=str(uuid.uuid4()),
        link_id=str(uuid.uuid4()),
        source="bank_account_link",
        amount=125_00,
        method="card",
        payer={"name": "Jordan Example", "email": "jordan@example.com"},
        reference="MAT-2026-0042 retainer",
        received_at=datetime.now(UTC),
        card_brand="visa",
        last4="4242",
    )


def records(topic: str, count: int) -> list[KafkaRecord]:
    """Kafka records exactly as the outbox relay would send them (CloudEvents headers, key, value)."""
    cls = routed_to(topic)
    return [to_record(Envelope(event=payment_received(cls), source=SOURCE)) for _ in range(count)]


class Payment(Aggregate):
    """The smallest aggregate that records a payment: what a command handler saves."""

    stream_type = "payment"
