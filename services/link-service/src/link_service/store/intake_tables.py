"""The tables payment intake reads and writes, behind two ports: Postgres in the service, in memory in the
unit tests of the intake.

- `IntakeTables`: inside a unit of work (the decision under the bill's lock, the processor's answer).
- `AttemptLedger`: outside any transaction, each call one atomic statement. The common payment is recorded
  by one call of it, a single round trip (see attempts.start), and its answer by another (`receive`).
"""

from __future__ import annotations

from typing import Protocol

import asyncpg

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import Writer

from ..domain.pay_target import PayTarget
from ..domain.payment import Payment, Receipt
from ..processor import ChargeRequest
from . import attempts, idempotency, links
from .attempts import Attempt, KeyClaim, StartResult


class AttemptLedger(Protocol):
    async def start(self, charge: ChargeRequest, receipt: Receipt, claim: KeyClaim | None) -> StartResult:
        """Claim the key, reserve the amount on the bill and record the attempt, all or nothing."""
        ...

    async def receive(self, payment: Payment) -> bool:
        """The charge taken: the attempt received and the payment's events saved, all or nothing; False
        (nothing saved) when the attempt no longer was charging."""
        ...

    async def find(self, payment_id: str) -> Attempt | None: ...

    async def stranded(self, older_than_seconds: float) -> list[str]:
        """Attempts left charging for longer than that (a crash, the processor unreachable)."""
        ...

    async def forget_expired_keys(self) -> int: ...


class IntakeTables(Protocol):
    async def claim_key(self, claim: KeyClaim, payment_id: str) -> str | None:
        """None when the key is new (now bound to `payment_id`); else the payment id it already names.
        Raises DomainError `idempotency_key_reused` when it came with another request."""
        ...

    async def locked_target(self, link_id: str) -> PayTarget | None:
        """The link's target, its bill's row locked until the transaction ends."""
        ...

    async def start(self, charge: ChargeRequest, receipt: Receipt) -> StartResult: ...

    async def refuse_before_charge(self, payment_id: str, link_id: str, refusal: DomainError) -> None: ...

    async def find(self, payment_id: str) -> Attempt | None: ...

    async def finish_received(self, payment_id: str) -> Attempt | None:
        """The attempt, now received; None when it no longer was charging."""
        ...

    async def finish_refused(self, payment_id: str, refusal: DomainError) -> Attempt | None: ...


class PostgresIntakeTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def claim_key(self, claim: KeyClaim, payment_id: str) -> str | None:
        return await idempotency.claim(self._conn, claim.link_id, claim.key, claim.fingerprint, payment_id)

    async def locked_target(self, link_id: str) -> PayTarget | None:
        return await links.target_for_payment(self._conn, link_id)

    async def start(self, charge: ChargeRequest, receipt: Receipt) -> StartResult:
        return await attempts.start(self._conn, charge, receipt)

    async def refuse_before_charge(self, payment_id: str, link_id: str, refusal: DomainError) -> None:
        await attempts.refuse_before_charge(self._conn, payment_id, link_id, refusal)

    async def find(self, payment_id: str) -> Attempt | None:
        return await attempts.find(self._conn, payment_id)

    async def finish_received(self, payment_id: str) -> Attempt | None:
        return await attempts.finish_received(self._conn, payment_id)

    async def finish_refused(self, payment_id: str, refusal: DomainError) -> Attempt | None:
        return await attempts.finish_refused(self._conn, payment_id, refusal)


class PostgresAttemptLedger:
    """Each call on a pooled connection of its own, in no transaction but its statement's."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer  # its pool for the statements, and `save_when` for the answer

    async def start(self, charge: ChargeRequest, receipt: Receipt, claim: KeyClaim | None) -> StartResult:
        async with self._writer.pool.acquire() as conn:
            return await attempts.start(conn, charge, receipt, claim)

    async def receive(self, payment: Payment) -> bool:
        return await self._writer.save_when(payment, attempts.RECEIVED, payment.id)

    async def find(self, payment_id: str) -> Attempt | None:
        async with self._writer.pool.acquire() as conn:
            return await attempts.find(conn, payment_id)

    async def stranded(self, older_than_seconds: float) -> list[str]:
        async with self._writer.pool.acquire() as conn:
            return await attempts.stranded(conn, older_than_seconds)

    async def forget_expired_keys(self) -> int:
        async with self._writer.pool.acquire() as conn:
            return await idempotency.prune(conn)


def intake_writer(writer: Writer) -> Writer[IntakeTables]:
    """The runtime's writer, its units of work showing the intake's tables."""
    return writer.with_tables(PostgresIntakeTables)
