"""The events the benchmarks write: realistic PaymentReceived payloads, optionally on a private topic."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from paylinks_events import Envelope, Event, KafkaRecord, PaymentProcessed, PaymentReceived, to_record
from paylinks_runtime.aggregate import Aggregate

FIRM_ID = "bench-firm"
SOURCE = "/bench"
SETTLE = timedelta(seconds=2)  # received -> processed, as the sandbox's card settlement

E = TypeVar("E", bound=Event)


def routed(cls: type[E], topic: str) -> type[E]:
    """`cls` whose records go to `topic` instead of the contract's topic.

    Same type name, fields and encoding, so the runtime writes byte-for-byte the rows and records it
    writes in production, and a consumer decodes them as the contract's type; only the topic differs.
    """
    # Unregistered: the contract's type stays the one its name decodes to. Made by the events' own metaclass,
    # which takes `register`; mypy cannot follow a call of `type(cls)`, hence the cast.
    metaclass: Any = type(cls)
    return cast(
        "type[E]", metaclass(cls.__name__, (cls,), {"topic": topic, "__module__": __name__}, register=False)
    )


def routed_to(topic: str) -> type[PaymentReceived]:
    """PaymentReceived whose records go to `topic` instead of the contract's `payment.events`."""
    return routed(PaymentReceived, topic)


def payment_received(
    cls: type[PaymentReceived] = PaymentReceived,
    *,
    firm_id: str = FIRM_ID,
    bank_account_id: str | None = None,
    received_at: datetime | None = None,
) -> PaymentReceived:
    """One payment of a new payer-facing link, with the size and shape of a real one (~480 bytes)."""
    return cls(
        payment_id=str(uuid.uuid4()),
        firm_id=firm_id,
        bank_account_id=bank_account_id or str(uuid.uuid4()),
        link_id=str(uuid.uuid4()),
        source="bank_account_link",
        amount=125_00,
        method="card",
        payer={"name": "Jordan Example", "email": "jordan@example.com"},
        reference="MAT-2026-0042 retainer",
        received_at=received_at or datetime.now(UTC),
        card_brand="visa",
        last4="4242",
    )


def payment_processed(
    received: PaymentReceived, cls: type[PaymentProcessed] = PaymentProcessed
) -> PaymentProcessed:
    """The processor's confirmation of `received`, as link-service publishes it."""
    return cls(
        firm_id=received.firm_id,
        payment_id=received.payment_id,
        bank_account_id=received.bank_account_id,
        bill_id=received.bill_id,
        amount=received.amount,
        currency=received.currency,
        method=received.method,
        processed_at=received.received_at + SETTLE,
    )


def records(topic: str, count: int) -> list[KafkaRecord]:
    """Kafka records exactly as the outbox relay would send them (CloudEvents headers, key, value)."""
    cls = routed_to(topic)
    return [to_record(Envelope(event=payment_received(cls), source=SOURCE)) for _ in range(count)]


class Payment(Aggregate):
    """The smallest aggregate that records a payment: what a command handler saves."""

    stream_type = "payment"


def bank_accounts(firms: int, per_firm: int) -> list[tuple[str, str]]:
    """(firm_id, bank_account_id) of `firms` firms with `per_firm` accounts each."""
    return [(f"bench-firm-{f}", str(uuid.uuid4())) for f in range(firms) for _ in range(per_firm)]


def traced(event: Event) -> Envelope:
    """An envelope as the outbox relay publishes it: with the trace context of the request that caused it."""
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    return Envelope(event=event, source=SOURCE, traceparent=traceparent)


def payment_pairs(
    topic: str, pairs: int, *, firms: int = 500, accounts_per_firm: int = 4, lag: int = 1_000
) -> Iterator[KafkaRecord]:
    """`pairs` payments spread over many firms and accounts: each a PaymentReceived and, `lag` payments
    later in the stream, its PaymentProcessed (processing takes a while; meanwhile others are received).
    Keyed by payment id, so a payment's two events are on one partition, received first."""
    received_cls, processed_cls = routed(PaymentReceived, topic), routed(PaymentProcessed, topic)
    accounts = bank_accounts(firms, accounts_per_firm)
    waiting: deque[PaymentReceived] = deque()
    for i in range(pairs + lag):
        if i < pairs:
            firm_id, account_id = accounts[i % len(accounts)]
            waiting.append(payment_received(received_cls, firm_id=firm_id, bank_account_id=account_id))
            yield to_record(traced(waiting[-1]))
        if i >= lag:
            yield to_record(traced(payment_processed(waiting.popleft(), processed_cls)))
