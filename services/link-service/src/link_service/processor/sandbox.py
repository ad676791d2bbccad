"""The sandbox processor (CONTRACT.md): test cards and eCheck accounts with fixed outcomes.

Accepted charges get a pending settlement row (written in the intake transaction) that the delivery task
turns into a signed webhook once due.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from paylinks_events import utcnow
from paylinks_runtime.tracing import current_trace_headers

from ..domain.instruments import BankDetails, Card, Instrument, luhn_valid
from .base import Accepted, Charge, Declined

DECLINED_CARDS = {"4000000000000002": "card_declined"}
RETURNED_ACCOUNTS = {"000111111113": "R01"}


@dataclass(frozen=True)
class Settlement:
    type: str  # "payment.succeeded" | "payment.failed"
    reason: str | None
    delay_seconds: float


class SandboxProcessor:
    def __init__(self, *, card_settle_seconds: float, echeck_settle_seconds: float) -> None:
        self._card_delay = card_settle_seconds
        self._echeck_delay = echeck_settle_seconds

    async def submit(self, conn: asyncpg.Connection, charge: Charge) -> Accepted | Declined:
        outcome = self.outcome(charge.instrument)
        if isinstance(outcome, Declined):
            return outcome
        await conn.execute(
            "INSERT INTO sandbox_settlements (webhook_id, payment_id, type, reason, due_at, traceparent)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            str(uuid.uuid4()),
            charge.payment_id,
            outcome.type,
            outcome.reason,
            utcnow() + timedelta(seconds=outcome.delay_seconds),
            current_trace_headers().get("traceparent"),
        )
        return Accepted()

    def outcome(self, instrument: Instrument) -> Settlement | Declined:
        if isinstance(instrument, Card):
            return self._card_outcome(instrument)
        return self._echeck_outcome(instrument)

    def _card_outcome(self, card: Card) -> Settlement | Declined:
        if not luhn_valid(card.number):
            return Declined("invalid_number")
        if card.number in DECLINED_CARDS:
            return Declined(DECLINED_CARDS[card.number])
        return Settlement("payment.succeeded", None, self._card_delay)

    def _echeck_outcome(self, bank: BankDetails) -> Settlement:
        returned = RETURNED_ACCOUNTS.get(bank.account_number)
        if returned:
            return Settlement("payment.failed", returned, self._echeck_delay)
        return Settlement("payment.succeeded", None, self._echeck_delay)
