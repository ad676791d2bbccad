"""The processor interface. A real adapter submits the charge to its API and reports the outcome later
through a signed webhook (`/v1/processor/webhooks`); only brand and last four digits come back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import asyncpg

from ..domain.instruments import Instrument


@dataclass(frozen=True)
class Charge:
    payment_id: str
    firm_id: str
    amount: int
    currency: str
    instrument: Instrument


@dataclass(frozen=True)
class Accepted:
    """Taken for processing; settles (or fails) later, reported by webhook."""


@dataclass(frozen=True)
class Declined:
    reason: str


class PaymentProcessor(Protocol):
    async def submit(self, conn: asyncpg.Connection, charge: Charge) -> Accepted | Declined:
        """Submit a charge. `conn` is the intake transaction: state the processor adapter keeps locally
        (the sandbox's pending settlements) commits or rolls back together with the payment."""
        ...
