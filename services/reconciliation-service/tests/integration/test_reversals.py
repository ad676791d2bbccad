"""Money that goes back, on the real broker: each payment's fee, refunds, dispute, return and payout, its
history, and linking refused while a refund is in progress. In order, out of order, and redelivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paylinks_events import Envelope, PayoutLine
from paylinks_runtime.testing import eventually


async def settled(firm, payment_id: str, **expected: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The payment once the read model shows every expected field (times compared as times)."""

    async def probe() -> dict[str, Any] | None:
        payment = await firm.payment(payment_id)
        if payment and all(_same(payment[k], v) for k, v in expected.items()):
            return payment
        return None

    return await eventually(probe)  # type: ignore[no-any-return]


async def history_types(firm, payment_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    response = await firm.get(f"/v1/payments/{payment_id}/history")
    assert response.status_code == 200, response.text
    return [(item["type"], item["by"]) for item in response.json()["items"]]


async def link(firm, payment_id: str, matter_id: str):  # type: ignore[no-untyped-def]
    return await firm.client.post(
        f"/v1/payments/{payment_id}/link", json={"matter_id": matter_id}, headers=firm.headers
    )


async def unlink(firm, payment_id: str):  # type: ignore[no-untyped-def]
    return await firm.client.request(
        "DELETE", f"/v1/payments/{payment_id}/link", json={"reason": "wrong"}, headers=firm.headers
    )


async def test_a_fee_and_a_partial_refund_show_on_the_payment_and_in_its_history(firm) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    received = firm.received(trust.bank_account_id, amount=10000)
    requested = firm.refund_requested(received, 2500)
    await firm.publish(
        trust,
        operating,
        received,
        firm.processed(received, fee=320),
        firm.fee(received, operating.bank_account_id, 320),
        requested,
        firm.refund_succeeded(requested),
    )
    payment = await settled(firm, received.payment_id, refunded_amount=2500)
    assert payment["fee"] == 320
    assert (payment["dispute"], payment["returned"], payment["payout_id"]) == (None, None, None)
    assert payment["status"] == "ready"
    assert await history_types(firm, received.payment_id) == [
        ("PaymentReceived", "/tests"),
        ("PaymentProcessed", "/tests"),
        ("RefundRequested", "admin-amy"),
        ("RefundSucceeded", "/tests"),
    ]


async def test_a_refund_in_progress_blocks_linking_and_unlinking_until_its_outcome(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(kind="trust")
    await firm.publish(account)
    _, matter = await firm.practice()
    blocked = await firm.ready_payment(account.bank_account_id)
    first = firm.refund_requested(blocked, 1000)
    await firm.publish(first)
    await eventually(lambda: _refund_pending(firm, blocked.payment_id))

    refused = await link(firm, blocked.payment_id, matter.matter_id)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refund_in_progress"

    await firm.publish(firm.refund_failed(first))
    await eventually(lambda: _refund_settled(firm, blocked.payment_id))
    assert (await link(firm, blocked.payment_id, matter.matter_id)).status_code == 200

    second = firm.refund_requested(blocked, 1000)
    await firm.publish(second)
    await eventually(lambda: _refund_pending(firm, blocked.payment_id))
    refused = await unlink(firm, blocked.payment_id)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "refund_in_progress")

    await firm.publish(firm.refund_succeeded(second))
    payment = await settled(firm, blocked.payment_id, refunded_amount=1000)
    assert payment["status"] == "linked"  # a refunded linked payment keeps its link
    assert payment["matter_id"] == matter.matter_id


async def test_a_dispute_opens_then_is_lost_and_the_history_says_so(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(kind="trust")
    received = firm.received(account.bank_account_id)
    disputed = firm.disputed(received, amount=5000)
    await firm.publish(account, received, firm.processed(received), disputed)
    payment = await settled(firm, received.payment_id, dispute={**_dispute(disputed), "status": "open"})
    assert payment["refunded_amount"] == 0

    await firm.publish(firm.dispute_closed(disputed, "lost"))
    await settled(firm, received.payment_id, dispute={**_dispute(disputed), "status": "lost"})
    assert [t for t, _ in await history_types(firm, received.payment_id)][-2:] == [
        "PaymentDisputed",
        "DisputeClosed",
    ]


async def test_a_late_echeck_return_shows_why(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(kind="trust")
    received = firm.received(account.bank_account_id, method="echeck", card_brand=None, last4=None)
    returned = firm.returned(received, "R10")
    await firm.publish(account, received, firm.processed(received), returned)
    expected = {"reason": "R10", "returned_at": returned.returned_at, "amount": received.amount}
    payment = await settled(firm, received.payment_id, returned=expected)
    assert payment["status"] == "ready"


async def test_out_of_order_and_redelivered_reversals_converge(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(kind="trust")
    received = firm.received(account.bank_account_id, amount=9000)
    requested = firm.refund_requested(received, 4000)
    disputed = firm.disputed(received, amount=3000)
    payout = firm.payout(
        account.bank_account_id, PayoutLine(type="payment", payment_id=received.payment_id, amount=9000)
    )
    # the outcome before the request, the close before the opening, the payout before the payment
    late_first = [
        Envelope(e, source="/tests")
        for e in (
            firm.refund_succeeded(requested),
            firm.dispute_closed(disputed, "won"),
            payout,
            requested,
            disputed,
            firm.processed(received),
            received,
        )
    ]
    await firm.publish(*late_first, *late_first)  # and every one of them twice
    payment = await settled(
        firm,
        received.payment_id,
        refunded_amount=4000,
        payout_id=payout.payout_id,
        dispute={**_dispute(disputed), "status": "won"},
    )
    assert payment["status"] == "ready"
    assert payment["amount"] == 9000
    assert len(await history_types(firm, received.payment_id)) == 6


def _dispute(disputed) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "dispute_id": disputed.dispute_id,
        "amount": disputed.amount,
        "evidence_due_by": disputed.evidence_due_by,
    }


def _same(actual: Any, expected: Any) -> bool:
    """JSON against Python values: a datetime is compared with the time the text names."""
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, datetime):
        return actual is not None and datetime.fromisoformat(actual) == expected
    return bool(actual == expected)


async def _refund_pending(firm, payment_id: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        await firm.pool.fetchval(
            "SELECT true FROM refunds WHERE firm_id = $1 AND payment_id = $2 AND status = 'pending'",
            firm.id,
            payment_id,
        )
    )


async def _refund_settled(firm, payment_id: str) -> bool:  # type: ignore[no-untyped-def]
    return not await _refund_pending(firm, payment_id)
