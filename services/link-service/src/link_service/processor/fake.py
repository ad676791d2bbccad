"""An in-memory processor for tests, with the real one's idempotency: the same key is the same charge.

Tokens are registered by the test (`card`, `bank`); `declines` marks tokens the issuer refuses; `refusing`
(when set) is the 422 code every refund gets. Switches
simulate what breaks: `unreachable` (nothing sent) and `answer_lost` (charged, but the answer never
arrives: the adapter's view of a timeout or of a crash right after the charge).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from .base import (
    Charged,
    ChargeOutcome,
    ChargeRequest,
    Declined,
    ProcessorUnavailable,
    RefundAccepted,
    RefundOutcome,
    RefundRequest,
    Rejected,
)


@dataclass
class FakeProcessor:
    tokens: dict[str, Charged] = field(default_factory=dict)
    declines: set[str] = field(default_factory=set)
    charges: dict[str, tuple[ChargeRequest, ChargeOutcome]] = field(default_factory=dict)  # by key
    calls: int = 0
    unreachable: bool = False
    answer_lost: bool = False
    refunds: dict[str, tuple[RefundRequest, RefundOutcome]] = field(default_factory=dict)  # by key
    refusing: str | None = None
    hold: asyncio.Event | None = None  # when set by a test, charges wait until it is set
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def card(self, last4: str = "4242", brand: str = "visa", *, declined: bool = False) -> str:
        return self._token(Charged("card", last4, brand), declined)

    def bank(self, last4: str = "6789") -> str:
        return self._token(Charged("echeck", last4), declined=False)

    def charged(self, payment_id: str) -> list[ChargeRequest]:
        """Every charge made for the payment (there should never be more than one)."""
        return [r for r, outcome in self.charges.values() if r.payment_id == payment_id and _taken(outcome)]

    async def charge(self, request: ChargeRequest) -> ChargeOutcome:
        self.calls += 1
        if self.unreachable:
            raise ProcessorUnavailable("fake: unreachable")
        if self.hold is not None:
            await self.hold.wait()
        key = request.idempotency_key
        if key not in self.charges:
            self.charges[key] = (request, self._decide(request))
        first, outcome = self.charges[key]
        if first != request:
            return Rejected("idempotency_key_reused", "another request with this key")
        if self.answer_lost:
            raise ProcessorUnavailable("fake: the answer was lost")
        return outcome

    def refunded(self, payment_id: str) -> list[RefundRequest]:
        """Every refund the processor accepted for the payment."""
        return [
            r
            for r, outcome in self.refunds.values()
            if r.payment_id == payment_id and outcome == RefundAccepted()
        ]

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        self.calls += 1
        if self.unreachable:
            raise ProcessorUnavailable("fake: unreachable")
        key = request.idempotency_key
        if key not in self.refunds:
            outcome: RefundOutcome = Rejected(self.refusing, "refused") if self.refusing else RefundAccepted()
            self.refunds[key] = (request, outcome)
        first, outcome = self.refunds[key]
        if first != request:
            return Rejected("idempotency_key_reused", "another request with this key")
        if self.answer_lost:
            raise ProcessorUnavailable("fake: the answer was lost")
        return outcome

    async def aclose(self) -> None:
        return None

    def _decide(self, request: ChargeRequest) -> ChargeOutcome:
        token = request.payment_method
        if token not in self.tokens:
            return Rejected("payment_method_invalid", "unknown token")
        if any(r.payment_method == token and _taken(o) for r, o in self.charges.values()):
            return Rejected("payment_method_used", "a token pays for one payment only")
        if token in self.declines:
            return Declined("card_declined")
        return self.tokens[token]

    def _token(self, charged: Charged, declined: bool) -> str:
        token = f"pm_fake{next(self._ids)}"
        self.tokens[token] = charged
        if declined:
            self.declines.add(token)
        return token


def _taken(outcome: ChargeOutcome) -> bool:
    return isinstance(outcome, Charged)
