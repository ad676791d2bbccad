"""Mutation testing of the chaos suite (never used by a normal run): the service processes of a run with
CHAOS_MUTATE=<protection> start with that protection removed, so the test guarding it can be seen failing.
`make chaos` runs every one of them against its guarding test (test_mutations.py, the table in
mutations/catalogue.py); by hand:

    CHAOS_MUTATE=inbox        pytest tests/chaos/test_redelivery.py    # redelivered events applied again
    CHAOS_MUTATE=idempotency  pytest tests/chaos/test_races.py -k key  # every retry is a new payment
    CHAOS_MUTATE=dlq          pytest tests/chaos/test_poison_records.py  # a poison record stops the consumer
    CHAOS_MUTATE=outbox       pytest tests/chaos/test_handoffs.py -k kafka  # events published outside the
                                                                            # transaction, once, no outbox
    CHAOS_MUTATE=offset_order pytest tests/chaos/test_handoffs.py -k consumer  # offsets committed before
                                                                               # the batch is applied
    CHAOS_MUTATE=concurrency  pytest tests/chaos/test_races.py -k "fifty or billing"  # no version check
    CHAOS_MUTATE=email_marking pytest tests/chaos/test_emails_once.py  # a sent email is never marked sent
    CHAOS_MUTATE=charge_key   pytest tests/chaos/test_charge_once.py  # a charge sent again after a crash
                                                                    # gets a new processor Idempotency-Key

One fault is injected the same way: CHAOS_CRASH_AFTER_CHARGE=1 makes a link-service process die (os._exit, as
abruptly as SIGKILL: nothing committed, nothing cleaned up) right after the processor answered a charge, the
moment between the charge and its record (test_charge_once.py).

Loaded by Python at start-up because tests/chaos/mutations is put on the services' PYTHONPATH."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any


def _no_inbox() -> None:
    from paylinks_runtime.inbox_consumer import InboxConsumer

    async def claim_everything(self: Any, conn: Any, event_ids: list[str]) -> set[str]:
        return set(event_ids)

    InboxConsumer._claim = claim_everything  # type: ignore[method-assign]


def _no_idempotency_key() -> None:
    from link_service.store import attempts, idempotency

    async def always_new(*_: Any) -> None:
        return None

    start = attempts.start

    async def start_without_key(conn: Any, charge: Any, receipt: Any, claim: Any = None) -> Any:
        return await start(conn, charge, receipt)  # the common payment claims its key in this statement

    idempotency.claim = always_new  # type: ignore[assignment]
    attempts.start = start_without_key  # type: ignore[assignment]


def _no_dead_letters() -> None:
    from paylinks_runtime.dead_letters import DeadLetters

    async def explode(self: Any, record: Any, reason: str) -> None:
        raise RuntimeError(f"no dead-letter topic: {reason}")

    DeadLetters.send = explode  # type: ignore[method-assign]


def _publish_outside_the_transaction() -> None:
    """No outbox: events are stored without their outbox rows and sent to Kafka straight away, once, from
    inside the transaction (a broker down at that moment: the event is never published)."""
    from paylinks_runtime import event_store

    append, append_when, enqueue = event_store.append, event_store.append_when, event_store.enqueue
    publisher = _DirectPublisher()

    async def append_and_send(
        conn: Any,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        envelopes: Sequence[Any],
        stored: Sequence[Any] | None = None,
    ) -> int:
        version = await append(conn, stream_id, stream_type, expected_version, envelopes, stored)
        await _drop_outbox_rows(conn, envelopes)
        await publisher.send(envelopes)
        return version

    async def enqueue_and_send(conn: Any, envelopes: Sequence[Any]) -> None:
        await enqueue(conn, envelopes)
        await _drop_outbox_rows(conn, envelopes)
        await publisher.send(envelopes)

    async def append_when_and_send(
        conn: Any, guard: str, guard_args: Sequence[Any], *stream: Any
    ) -> int | None:
        envelopes = stream[3]  # after stream_id, stream_type and expected_version
        async with conn.transaction():  # the guarded append (Writer.save_when) is a statement on its own
            version = await append_when(conn, guard, guard_args, *stream)
            if version is not None:
                await _drop_outbox_rows(conn, envelopes)
                await publisher.send(envelopes)
        return version

    event_store.append = append_and_send  # type: ignore[assignment]
    event_store.append_when = append_when_and_send  # type: ignore[assignment]
    event_store.enqueue = enqueue_and_send  # type: ignore[assignment]


async def _drop_outbox_rows(conn: Any, envelopes: Sequence[Any]) -> None:
    await conn.execute("DELETE FROM outbox WHERE event_id = ANY($1::text[])", [e.id for e in envelopes])


class _DirectPublisher:
    """Best effort, as a service without an outbox would do it: one try, errors swallowed."""

    def __init__(self) -> None:
        self._producer: Any = None

    async def send(self, envelopes: Sequence[Any]) -> None:
        from paylinks_events import to_record

        try:
            producer = await self._started()
            for envelope in envelopes:
                record = to_record(envelope)
                await asyncio.wait_for(
                    producer.send_and_wait(
                        record.topic, record.value, key=record.key, headers=record.headers
                    ),
                    timeout=2.0,
                )
        except Exception:  # the mutation: a failed publish is simply lost
            await self._reset()

    async def _started(self) -> Any:
        from aiokafka import AIOKafkaProducer

        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
            await asyncio.wait_for(producer.start(), timeout=2.0)
            self._producer = producer
        return self._producer

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.gather(producer.stop(), return_exceptions=True)


def _commit_offsets_before_the_effect() -> None:
    """The consumer commits a batch's offsets as soon as it fetched it, then applies it: a process that dies
    before the transaction commits has moved its group past records it never applied."""
    from paylinks_runtime.inbox_consumer import InboxConsumer

    async def commit_first(self: Any) -> None:
        current = await self._fetch(None)
        while True:
            if current.offsets:
                await self._consumer.commit(current.offsets)
            if current.deliveries:
                await self._apply_until_done(current.deliveries)
            current = await self._fetch(None)

    InboxConsumer._consume = commit_first  # type: ignore[method-assign]


def _no_version_check() -> None:
    """Optimistic concurrency gone: an aggregate decided on a stale stream is appended after whatever the
    stream holds by then (a conflict is retried at the new end, never reported), so two writers that both
    decided on version n both succeed."""
    from paylinks_runtime import event_store

    append = event_store.append

    async def append_after_the_latest(
        conn: Any,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        envelopes: Sequence[Any],
        stored: Sequence[Any] | None = None,
    ) -> int:
        while True:
            latest = await conn.fetchval(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", stream_id
            )
            try:
                # a savepoint: a conflict leaves the caller's transaction usable
                async with conn.transaction():
                    return await append(conn, stream_id, stream_type, int(latest), envelopes, stored)
            except event_store.ConcurrencyError:
                continue

    event_store.append = append_after_the_latest  # type: ignore[assignment]


def _emails_never_marked_sent() -> None:
    from notifier import email_outbox

    async def forget(conn: Any, email_ids: list[int]) -> None:
        return None

    email_outbox.mark_sent = forget  # type: ignore[assignment]


def _a_new_charge_key_each_send() -> None:
    """The charge's Idempotency-Key no longer derived from the payment: each send (a retry of the adapter, the
    recovery after a crash) is a new charge to the processor."""
    import uuid

    from link_service.processor.base import ChargeRequest

    ChargeRequest.idempotency_key = property(  # type: ignore[method-assign, assignment]
        lambda self: f"payment:{self.payment_id}:{uuid.uuid4().hex}"
    )


def _crash_after_charge() -> None:
    from link_service.processor.http import HttpProcessor

    charge = HttpProcessor.charge

    async def charge_then_die(self: Any, request: Any) -> Any:
        await charge(self, request)
        os._exit(137)

    HttpProcessor.charge = charge_then_die  # type: ignore[method-assign]


# The clock_skew fault's hook (tests/chaos/clock), not a mutation: first, before a mutation imports pydantic.
if os.environ.get("CHAOS_CLOCK_DIR"):
    import chaos_clock  # noqa: F401
MUTATIONS = {
    "inbox": _no_inbox,
    "idempotency": _no_idempotency_key,
    "dlq": _no_dead_letters,
    "outbox": _publish_outside_the_transaction,
    "offset_order": _commit_offsets_before_the_effect,
    "concurrency": _no_version_check,
    "email_marking": _emails_never_marked_sent,
    "charge_key": _a_new_charge_key_each_send,
}
if os.environ.get("CHAOS_MUTATE") in MUTATIONS:
    MUTATIONS[os.environ["CHAOS_MUTATE"]]()
if os.environ.get("CHAOS_CRASH_AFTER_CHARGE") == "1":
    _crash_after_charge()
