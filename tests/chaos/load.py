"""The load driver: pays at a steady rate through the public API, as many clients would, while faults happen.

Each payment's card or bank account is first tokenized at the processor, as a payer's browser does. A payment
whose answer never came (connection reset, 5xx, the service restarting, the key still "in flight", the charge
pending) is retried with the SAME Idempotency-Key and body until it gets a final answer, so the ledger knows
exactly which payments the system accepted (202, with their ids) and which it refused. A payment planned
with a reversal is then refunded, disputed or returned (reversals.py), in the same task."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .reversals import ReversalLedger, Reverser
from .workload import PlannedPayment, TokenizationRefused, tokenize

RETRIED_CODES = {"idempotency_key_in_flight", "too_many_requests"}
# An attempt cut off by a crash stays "in flight" until link-service's recovery sends it again (its
# PAYMENT_RECOVERY_AFTER_SECONDS), then answers for good.
GIVE_UP_AFTER = 300.0


@dataclass
class Ledger:
    """By Idempotency-Key: (plan, payment id) accepted; (plan, status, error code) refused;
    (plan, last answer) for a payment that never got a final answer."""

    accepted: dict[str, tuple[PlannedPayment, str]] = field(default_factory=dict)
    refused: dict[str, tuple[PlannedPayment, int, str]] = field(default_factory=dict)
    unresolved: dict[str, tuple[PlannedPayment, str]] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)  # why a request was sent again
    reversals: ReversalLedger = field(default_factory=ReversalLedger)  # the money the load sent back

    @property
    def started(self) -> int:
        return len(self.accepted) + len(self.refused) + len(self.unresolved)

    def by_payment_id(self) -> dict[str, PlannedPayment]:
        return {payment_id: plan for plan, payment_id in self.accepted.values()}


class LoadDriver:
    def __init__(
        self, link_service_url: str, processor_url: str, planner: Callable[[], PlannedPayment], *, rate: float
    ) -> None:
        self._url = link_service_url
        self._processor_url = processor_url
        self._planner = planner
        self._interval = 1.0 / rate
        self.ledger = Ledger()
        self.in_flight = 0
        self._reverser = Reverser(link_service_url, processor_url, self.ledger.reversals, self.ledger.retries)

    async def run(self, stop: asyncio.Event, minimum: int) -> Ledger:
        """Start a payment every interval until `stop` is set and `minimum` were started; wait for all."""
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as http:
            tasks: list[asyncio.Task[None]] = []
            while not stop.is_set() or len(tasks) < minimum:
                tasks.append(asyncio.create_task(self._pay(http, self._planner())))
                await asyncio.sleep(self._interval)
            await asyncio.gather(*tasks)
        return self.ledger

    async def _pay(self, http: httpx.AsyncClient, plan: PlannedPayment) -> None:
        self.in_flight += 1
        try:
            await self._pay_until_answered(http, plan)
            if plan.reversal is not None and plan.key in self.ledger.accepted:
                await self._reverser.reverse(http, plan, self.ledger.accepted[plan.key][1])
        finally:
            self.in_flight -= 1

    async def _pay_until_answered(self, http: httpx.AsyncClient, plan: PlannedPayment) -> None:
        loop = asyncio.get_running_loop()
        deadline, backoff, last = loop.time() + GIVE_UP_AFTER, 0.1, ""
        body: dict[str, Any] | None = None
        while loop.time() < deadline:
            if body is None:
                body, answer = await self._tokenize(http, plan)
            if body is not None:
                answer = await self._attempt(http, plan, body)
            if answer is None:
                return
            last = answer
            self.ledger.retries[answer] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        self.ledger.unresolved[plan.key] = (plan, last)

    async def _tokenize(
        self, http: httpx.AsyncClient, plan: PlannedPayment
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The pay body once its details are tokenized (then kept for every retry), or why not yet."""
        try:
            return plan.body(await tokenize(http, self._processor_url, plan)), None
        except httpx.TransportError as exc:
            return None, f"tokenization failed ({type(exc).__name__})"
        except TokenizationRefused as exc:
            return None, f"tokenization answered {exc.status_code}"

    async def _attempt(
        self, http: httpx.AsyncClient, plan: PlannedPayment, body: dict[str, Any]
    ) -> str | None:
        """None when the payment got its final answer (recorded); else why it must be sent again."""
        try:
            response = await http.post(
                f"{self._url}/v1/pay/{plan.token}/payments",
                json=body,
                headers={"Idempotency-Key": plan.key},
            )
        except httpx.TransportError as exc:
            return f"transport error ({type(exc).__name__})"
        if response.status_code == 202:
            self.ledger.accepted[plan.key] = (plan, response.json()["payment_id"])
            return None
        code = _error_code(response)
        if response.status_code >= 500 or code in RETRIED_CODES:
            return f"{response.status_code} {code}"
        self.ledger.refused[plan.key] = (plan, response.status_code, code)
        return None


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error body"
