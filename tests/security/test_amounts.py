"""Amounts: zero, negative, fractional, huge, strings, above the limit or the balance are 422 and nothing is
recorded (no event, no pending settlement, nothing on Kafka); the exact balance still goes through."""

from __future__ import annotations

from typing import Any

from paylinks_events import Topic
from paylinks_runtime.testing import eventually

from .firm import Firm, payment_body
from .hostile import leaked_internals
from .system import System

MAX = 2_500_000  # link-service's default MAX_PAYMENT_AMOUNT (CONTRACT.md)
BAD_AMOUNTS: dict[str, Any] = {
    "zero": 0,
    "negative": -1,
    "very negative": -(2**63),
    "fractional": 12.5,
    "integral float": 100.0,
    "exponent": 1e3,
    "huge": 10**30,
    "above int64": 2**63,
    "above the limit": MAX + 1,
    "string": "100",
    "string with cents": "1.00",
    "boolean": True,
    "null": None,
    "list": [100],
    "object": {"amount": 100},
}


async def nothing_recorded(system: System, firm: Firm, events_before: int) -> None:
    """No new event (a refused attempt is never charged: the processor is called only after the checks),
    and once the outbox is drained, no payment on Kafka."""
    assert await system.link.events_of(firm.id) == events_before
    assert await _events_of_type(system, firm, "PaymentReceived") == 0
    await eventually(system.link.outbox_empty)
    payments = [r for r in await system.kafka.of_firms(firm.id) if r.topic == Topic.PAYMENT]
    assert payments == []


async def test_bad_amounts_through_the_api_are_422_and_record_nothing(system: System, firm: Firm) -> None:
    # Protection: PaymentInput.amount (StrictInt) and PayTarget.check_payable (positive, limit), both
    # before the processor is called.
    token = await firm.account_token()
    events_before = await system.link.events_of(firm.id)
    for what, amount in BAD_AMOUNTS.items():
        response = await firm.pay(token, payment_body(amount))
        assert response.status_code == 422, (what, response.text)
        assert response.json()["error"]["code"] in {
            "validation_error",
            "invalid_amount",
            "amount_above_limit",
        }
        assert not leaked_internals(response.text)
    await nothing_recorded(system, firm, events_before)


async def test_above_the_balance_is_422_and_the_exact_balance_is_taken(system: System, firm: Firm) -> None:
    # Protection: PayTarget.check_payable against the bill's balance due.
    account_id = await firm.register_account()
    bill_id = await firm.issue_bill(amount=5_000)
    token = await firm.bill_token(bill_id, account_id)
    above = await firm.pay(token, payment_body(5_001))
    assert above.status_code == 422
    assert above.json()["error"]["code"] == "amount_above_balance"
    await eventually(system.link.outbox_empty)
    assert await _events_of_type(system, firm, "PaymentReceived") == 0
    assert (await firm.pay(token, payment_body(5_000))).status_code == 202  # the limit is the balance


async def test_bad_bill_amounts_are_422_and_issue_nothing(system: System, firm: Firm) -> None:
    # Protection: billing's NewBill.amount (StrictInt, 1..10^12).
    contact_id, matter_id = await firm.open_matter()
    bill_amounts = {**BAD_AMOUNTS, "above 10^12": 10**12 + 1}
    del bill_amounts["above the limit"]  # a bill may be larger than one payment: only its own cap applies
    for what, amount in bill_amounts.items():
        body = {"matter_id": matter_id, "contact_id": contact_id, "amount": amount}
        response = await firm.billing.post("/v1/bills", json=body, headers=firm.staff)
        assert response.status_code == 422, (what, response.text)
    assert await system.billing.events_of(firm.id) == 0
    listed = await firm.billing.get("/v1/bills", headers=firm.staff)
    assert listed.json()["items"] == []


async def _events_of_type(system: System, firm: Firm, event_type: str) -> int:
    query = "SELECT count(*) FROM events WHERE firm_id = $1 AND event_type = $2"
    return int(await system.link.fetchval(query, firm.id, event_type))
