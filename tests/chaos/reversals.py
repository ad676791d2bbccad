"""The load's money that goes back: once a payment the load made is processed, refunds through the admin API
(full, partial at once, racing; each retried with its Idempotency-Key until it has a final answer, a full
refund asked twice), disputes (won, lost) and late eCheck returns through the sandbox processor's controls,
while the faults happen. What the system answered goes in the ledger for the verdict."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from paylinks_runtime.auth import issue_token
from paylinks_runtime.settings import DEV_PROCESSOR_API_KEY
from paylinks_runtime.testing import JWT_SECRET

from .workload import BANK_RETURN, REFUND_FULL, RETURN_REASON, PlannedPayment

GIVE_UP_AFTER = 300.0
NOT_YET = "payment_not_refundable"  # a refund asked before link-service recorded the payment processed
# Answers about the request, not the refund: signed out (401), busy (409, 429).
_NOT_AN_ANSWER = (401, 409, 429)


@dataclass(frozen=True)
class AcceptedRefund:
    payment_id: str
    key: str  # the Idempotency-Key the admin sent
    refund_id: str
    amount: int


@dataclass(frozen=True)
class OpenedReversal:
    """A dispute (its id and planned outcome) or a return the sandbox processor opened on a payment."""

    payment_id: str
    kind: str  # "dispute" | "return"
    amount: int
    dispute_id: str | None = None
    outcome: str | None = None
    reason: str | None = None


@dataclass
class ReversalLedger:
    """What the system answered to the load's refunds, disputes and returns."""

    refunds: list[AcceptedRefund] = field(default_factory=list)  # every 202, a repeated ask included
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # refunds: payment id, status, code
    opened: dict[str, OpenedReversal] = field(default_factory=dict)  # by payment id
    unanswered: list[str] = field(default_factory=list)  # never answered, or refused by the processor

    def refunds_of(self, payment_id: str) -> dict[str, AcceptedRefund]:
        """The payment's accepted refunds by refund id (one per Idempotency-Key when all is well)."""
        return {r.refund_id: r for r in self.refunds if r.payment_id == payment_id}


class Reverser:
    def __init__(
        self, link_service_url: str, processor_url: str, ledger: ReversalLedger, retries: Counter[str]
    ) -> None:
        self._link_service = link_service_url
        self._processor = processor_url
        self.ledger = ledger
        self._retries = retries  # the load's: why a request was sent again (a 500 among them fails the run)

    async def reverse(self, http: httpx.AsyncClient, plan: PlannedPayment, payment_id: str) -> None:
        if plan.refunds():
            await asyncio.gather(*(self._refund(http, plan, payment_id, k, a) for k, a in plan.refunds()))
            if plan.reversal == REFUND_FULL:  # an admin's second click: the same refund, not another
                key, amount = plan.refunds()[0]
                await self._refund(http, plan, payment_id, key, amount)
        elif plan.dispute_outcome is not None or plan.reversal == BANK_RETURN:
            await self._open_at_processor(http, plan, payment_id)

    async def _refund(
        self, http: httpx.AsyncClient, plan: PlannedPayment, payment_id: str, key: str, amount: int
    ) -> None:
        url = f"{self._link_service}/v1/payments/{payment_id}/refunds"
        body = {"amount": amount, "reason": f"chaos {plan.reversal}"}

        async def attempt() -> str | None:
            # Signed anew each time: a 401 (a service whose clock jumped minutes refuses a token "not yet
            # valid") says nothing of the refund; the admin signs in again and sends the same key again.
            headers = {"Idempotency-Key": key, "Authorization": f"Bearer {_admin_token(plan.firm_id)}"}
            response = await http.post(url, json=body, headers=headers)
            if response.status_code == 202:
                answer = response.json()
                self.ledger.refunds.append(AcceptedRefund(payment_id, key, answer["refund_id"], amount))
                return None
            code = _error_code(response)
            if response.status_code in _NOT_AN_ANSWER or response.status_code >= 500 or code == NOT_YET:
                return f"{response.status_code} {code}"
            self.ledger.refused.append((payment_id, response.status_code, code))
            return None

        await self._until_answered(f"refund {key}", attempt, counted="refund")

    async def _open_at_processor(
        self, http: httpx.AsyncClient, plan: PlannedPayment, payment_id: str
    ) -> None:
        """A dispute or a return, once the processor holds the payment succeeded (before, the control's 422
        would be kept under the key)."""
        headers = {"Authorization": f"Bearer {DEV_PROCESSOR_API_KEY}"}
        dispute = plan.dispute_outcome is not None
        what = "dispute" if dispute else "return"

        async def settled() -> str | None:
            response = await http.get(
                f"{self._processor}/v1/sandbox/charges", params={"payment_id": payment_id}, headers=headers
            )
            if response.status_code == 200 and any(
                c["status"] == "succeeded" for c in response.json()["items"]
            ):
                return None
            return f"charge not succeeded yet ({response.status_code})"

        async def attempt() -> str | None:
            body = {"outcome": plan.dispute_outcome} if dispute else {"reason": RETURN_REASON}
            response = await http.post(
                f"{self._processor}/v1/sandbox/payments/{payment_id}/{what}",
                json=body,
                headers=headers | {"Idempotency-Key": f"{what}-{plan.key}"},
            )
            if response.status_code >= 500:
                return f"{response.status_code}"
            if response.status_code != 200:  # the payment succeeded: the processor must take it
                code = _error_code(response)
                self.ledger.unanswered.append(f"{what} of {payment_id}: {response.status_code} {code}")
                return None
            data = response.json()
            self.ledger.opened[payment_id] = OpenedReversal(
                payment_id,
                what,
                int(data["amount"]),
                data.get("dispute_id"),
                plan.dispute_outcome,
                None if dispute else RETURN_REASON,
            )
            return None

        if await self._until_answered(f"{what} of {payment_id} (waiting for its charge)", settled):
            await self._until_answered(f"{what} of {payment_id}", attempt, counted=what)

    async def _until_answered(self, what: str, attempt: Any, counted: str | None = None) -> bool:
        """Repeat `attempt` (None: answered; else why not yet) with backoff until answered or the deadline;
        with `counted` (what was asked), each retry goes in the load's retries."""
        loop = asyncio.get_running_loop()
        deadline, backoff, last = loop.time() + GIVE_UP_AFTER, 0.1, ""
        while loop.time() < deadline:
            try:
                why = await attempt()
            except httpx.TransportError as exc:
                why = f"transport error ({type(exc).__name__})"
            if why is None:
                return True
            last = why
            if counted is not None:
                self._retries[f"{why} ({counted})"] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        self.ledger.unanswered.append(f"{what}: {last}")
        return False


def _admin_token(firm_id: str) -> str:
    return issue_token(
        JWT_SECRET, user_id="chaos-admin", firm_id=firm_id, roles=["staff", "admin"], ttl=timedelta(hours=2)
    )


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "no error body"
