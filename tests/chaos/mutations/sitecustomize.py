"""Mutation testing of the chaos suite (never used by a normal run): the service processes of a run with
CHAOS_MUTATE=<protection> start with that protection removed, so the test guarding it can be seen failing.

    CHAOS_MUTATE=inbox        pytest tests/chaos/test_redelivery.py    # redelivered events applied again
    CHAOS_MUTATE=idempotency  pytest tests/chaos/test_races.py -k key  # every retry is a new payment
    CHAOS_MUTATE=dlq          pytest tests/chaos/test_poison_records.py  # a poison record stops the consumer

One fault is injected the same way: CHAOS_CRASH_AFTER_CHARGE=1 makes a link-service process die (os._exit, as
abruptly as SIGKILL: nothing committed, nothing cleaned up) right after the processor answered a charge, the
moment between the charge and its record (test_charge_once.py).

Loaded by Python at start-up because tests/chaos/mutations is put on the services' PYTHONPATH."""

from __future__ import annotations

import os
from typing import Any


def _no_inbox() -> None:
    from paylinks_runtime.inbox_consumer import InboxConsumer

    async def claim_everything(self: Any, conn: Any, event_ids: list[str]) -> set[str]:
        return set(event_ids)

    InboxConsumer._claim = claim_everything  # type: ignore[method-assign]


def _no_idempotency_key() -> None:
    from link_service.store import idempotency

    async def always_new(*_: Any) -> None:
        return None

    idempotency.claim = always_new  # type: ignore[assignment]


def _no_dead_letters() -> None:
    from paylinks_runtime.dead_letters import DeadLetters

    async def explode(self: Any, record: Any, reason: str) -> None:
        raise RuntimeError(f"no dead-letter topic: {reason}")

    DeadLetters.send = explode  # type: ignore[method-assign]


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
MUTATIONS = {"inbox": _no_inbox, "idempotency": _no_idempotency_key, "dlq": _no_dead_letters}
if os.environ.get("CHAOS_MUTATE") in MUTATIONS:
    MUTATIONS[os.environ["CHAOS_MUTATE"]]()
if os.environ.get("CHAOS_CRASH_AFTER_CHARGE") == "1":
    _crash_after_charge()
