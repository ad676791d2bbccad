"""What the chaos load makes of the system's answers to a refund: a 401 or a busy answer is asked again with
the same Idempotency-Key (a fresh token each time), a refusal of the refund itself is final and kept for the
verdict. The link-service here is an httpx MockTransport: only the load's reading of answers is under test."""

from __future__ import annotations

from collections import Counter

import httpx
import jwt
import pytest

from paylinks_runtime.testing import JWT_SECRET

from .reversals import ReversalLedger, Reverser
from .workload import ACCOUNT_CARD, REFUND_FULL, PlannedPayment

pytestmark = pytest.mark.unit

PLAN = PlannedPayment(
    key="k1", firm_id="firm-1", token="t", kind=ACCOUNT_CARD, amount=5000, reversal=REFUND_FULL
)


def _link_service(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.AsyncClient:
    """Answers the refund asks in order; the last answer repeats."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code}})


ACCEPTED = httpx.Response(
    202, json={"refund_id": "r1", "payment_id": "p1", "amount": 5000, "status": "pending"}
)


async def _reverse(answers: list[httpx.Response]) -> tuple[ReversalLedger, Counter[str], list[httpx.Request]]:
    ledger, retries, seen = ReversalLedger(), Counter[str](), list[httpx.Request]()
    async with _link_service(answers, seen) as http:
        await Reverser("http://link", "http://processor", ledger, retries).reverse(http, PLAN, "p1")
    return ledger, retries, seen


async def test_a_refund_answered_401_is_asked_again_signed_anew_with_the_same_key() -> None:
    ledger, retries, seen = await _reverse([_error(401, "unauthorized"), ACCEPTED])
    assert ledger.refused == []
    assert [r.refund_id for r in ledger.refunds] == ["r1", "r1"]  # then the admin's second click
    assert retries == Counter({"401 unauthorized (refund)": 1})
    assert {r.headers["Idempotency-Key"] for r in seen} == {"refund-0-k1"}
    for request in seen:  # each ask carries a token valid for the firm's admin
        claims = jwt.decode(request.headers["Authorization"].removeprefix("Bearer "), JWT_SECRET, ["HS256"])
        assert (claims["firm_id"], "admin" in claims["roles"]) == ("firm-1", True)


async def test_a_refund_the_system_refuses_is_final_and_kept_with_its_answer() -> None:
    ledger, retries, seen = await _reverse([_error(422, "amount_exceeds_refundable")])
    assert ledger.refunds == []
    assert ledger.refused == [("p1", 422, "amount_exceeds_refundable")] * 2  # asked, and clicked again
    assert retries == Counter()
    assert len(seen) == 2
