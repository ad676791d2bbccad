"""The processor's HTTP adapter against a scripted processor (a Sender answering from a script): answers
mapped to outcomes, and bounded retries that always re-send the same Idempotency-Key. The real sender over
a socket is in test_sender.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from link_service.processor import (
    Charged,
    ChargeRequest,
    Declined,
    ProcessorUnavailable,
    RefundAccepted,
    RefundRequest,
    Rejected,
)
from link_service.processor.http import HttpProcessor
from link_service.processor.sender import Answer, TransportError

pytestmark = pytest.mark.unit

REQUEST = ChargeRequest(
    payment_id="p-1",
    payment_method="pm_1",
    method="card",
    amount=12_500,
    currency="USD",
    firm_id="f-1",
    bank_account_id="ba-trust",
    fee_bank_account_id="ba-operating",
)


@dataclass(frozen=True)
class Sent:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class ScriptedProcessor:
    """Answers each request with the next of its script (an exception is raised instead)."""

    script: list[Answer | Exception]
    seen: list[Sent] = field(default_factory=list)

    async def post_json(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        self.seen.append(Sent(path, body, headers))
        reply = self.script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def aclose(self) -> None:
        pass


def scripted(*answers: Answer | Exception) -> tuple[HttpProcessor, list[Sent]]:
    sender = ScriptedProcessor(list(answers))
    processor = HttpProcessor("http://processor", "sk_test", attempts=3, backoff_seconds=0, sender=sender)
    return processor, sender.seen


def answer(status: int, body: dict[str, Any]) -> Answer:
    return Answer(status, json.dumps(body).encode())


def created(**payment_method: str) -> Answer:
    return answer(
        201, {"id": "py_1", "status": "pending", "method": "card", "payment_method": payment_method}
    )


def error(status: int, code: str) -> Answer:
    return answer(status, {"error": {"code": code, "message": code}})


async def test_a_charge_sends_the_key_the_secret_and_the_fee_account() -> None:
    processor, seen = scripted(created(type="card", brand="visa", last4="4242"))
    assert await processor.charge(REQUEST) == Charged("card", "4242", "visa")
    [sent] = seen
    assert sent.headers["Idempotency-Key"] == "payment:p-1"
    assert sent.headers["Authorization"] == "Bearer sk_test"
    assert json.loads(sent.body)["fee_bank_account_id"] == "ba-operating"


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (error(402, "card_declined"), Declined("card_declined")),
        (error(422, "payment_method_used"), Rejected("payment_method_used", "payment_method_used")),
    ],
)
async def test_refusals_are_outcomes_not_errors(reply: Answer, outcome: object) -> None:
    processor, _ = scripted(reply)
    assert await processor.charge(REQUEST) == outcome


async def test_transport_errors_and_5xx_are_retried_with_the_same_key() -> None:
    processor, seen = scripted(
        TransportError("refused"), error(503, "unavailable"), created(type="card", last4="4242")
    )
    assert await processor.charge(REQUEST) == Charged("card", "4242", None)
    assert [r.headers["Idempotency-Key"] for r in seen] == ["payment:p-1"] * 3
    assert len({r.body for r in seen}) == 1


@pytest.mark.parametrize(
    "answers",
    [
        lambda: [TransportError("slow")] * 3,
        lambda: [error(409, "idempotency_key_in_flight")] * 3,
        lambda: [error(401, "unauthorized")],
    ],
)
async def test_no_answer_after_the_retries_is_unavailable(answers: Callable[[], list[object]]) -> None:
    processor, seen = scripted(*answers())  # type: ignore[arg-type]
    with pytest.raises(ProcessorUnavailable):
        await processor.charge(REQUEST)
    assert len(seen) <= 3


REFUND = RefundRequest(refund_id="r-1", payment_id="p-1", amount=4_000)


async def test_a_refund_sends_its_own_key_and_is_accepted() -> None:
    processor, seen = scripted(answer(201, {"id": "re_1", "refund_id": "r-1", "status": "pending"}))
    assert await processor.refund(REFUND) == RefundAccepted()
    [sent] = seen
    assert (sent.path, sent.headers["Idempotency-Key"]) == ("/v1/refunds", "refund:r-1")
    assert json.loads(sent.body) == {"refund_id": "r-1", "payment_id": "p-1", "amount": 4_000}


async def test_a_refund_the_processor_refuses_is_rejected_with_its_code() -> None:
    processor, _ = scripted(error(422, "amount_exceeds_refundable"))
    assert await processor.refund(REFUND) == Rejected(
        "amount_exceeds_refundable", "amount_exceeds_refundable"
    )


async def test_a_refund_without_an_answer_is_retried_with_the_same_key_then_unavailable() -> None:
    processor, seen = scripted(error(503, "busy"), TransportError("down"), error(500, "boom"))
    with pytest.raises(ProcessorUnavailable):
        await processor.refund(REFUND)
    assert [r.headers["Idempotency-Key"] for r in seen] == ["refund:r-1"] * 3


def test_a_charge_request_as_sent_is_its_fields_and_reads_back_the_same() -> None:
    sent = REQUEST.as_json()
    assert sent == {
        "payment_id": "p-1",
        "payment_method": "pm_1",
        "method": "card",
        "amount": 12_500,
        "currency": "USD",
        "firm_id": "f-1",
        "bank_account_id": "ba-trust",
        "fee_bank_account_id": "ba-operating",
    }
    assert ChargeRequest.from_json(json.loads(json.dumps(sent))) == REQUEST
    sent["amount"] = 1  # a copy: the request itself never changes
    assert REQUEST.amount == 12_500
    refund = RefundRequest(refund_id="r-1", payment_id="p-1", amount=100)
    assert refund.as_json() == {"refund_id": "r-1", "payment_id": "p-1", "amount": 100}
