"""Payouts: per bank account, trust money gross, fees only on the fee account, every line exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from processor_sandbox.testing import Sandbox, WebhookRecorder

TRUST, OPERATING = "ba-trust", "ba-operating"


async def settle(sandbox: Sandbox, receiver: WebhookRecorder, token: str, firm_id: str, amount: int) -> str:
    payment_id = str(uuid.uuid4())
    response = await sandbox.charge(
        token, payment_id=payment_id, firm_id=firm_id, amount=amount, bank_account_id=TRUST
    )
    assert response.status_code == 201, response.text
    await receiver.wait_for("payment.succeeded", payment_id)
    return payment_id


async def test_a_trust_payout_is_gross_and_the_fees_go_to_the_fee_account(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    card = await settle(sandbox, receiver, await sandbox.tokenize_card(), firm_id, 10000)  # fee 320
    await settle(sandbox, receiver, await sandbox.tokenize_bank(), firm_id, 20000)  # fee 160
    disputed = await settle(sandbox, receiver, await sandbox.tokenize_card(), firm_id, 5000)  # fee 175
    refund = {"refund_id": str(uuid.uuid4()), "payment_id": card, "amount": 2500}
    headers = {**sandbox.secret, "Idempotency-Key": f"refund:{refund['refund_id']}"}
    assert (await sandbox.http.post("/v1/refunds", json=refund, headers=headers)).status_code == 201
    await sandbox.http.post(
        f"/v1/sandbox/payments/{disputed}/dispute", json={"outcome": "lost"}, headers=sandbox.secret
    )
    await receiver.wait_for("refund.succeeded", card)
    await receiver.wait_for("dispute.closed", disputed)

    payouts = {p["bank_account_id"]: p for p in await sandbox.pay_out(firm_id)}
    assert set(payouts) == {TRUST, OPERATING}
    trust, operating = payouts[TRUST], payouts[OPERATING]
    assert sorted((line["type"], line["amount"]) for line in trust["lines"]) == [
        ("dispute", -5000),
        ("payment", 5000),
        ("payment", 10000),
        ("payment", 20000),
        ("refund", -2500),
    ]
    assert all(line["fee_id"] is None for line in trust["lines"])
    assert sorted(line["amount"] for line in operating["lines"]) == [-1500, -320, -175, -160]
    assert {line["type"] for line in operating["lines"]} == {"fee"}
    for payout in (trust, operating):
        assert payout["amount"] == sum(line["amount"] for line in payout["lines"])
        assert payout["payout_id"].startswith("po_")
        assert payout["currency"] == "USD"
    assert trust["amount"] == 27500
    assert operating["amount"] == -2155

    webhooks = await receiver.wait_for("payout.paid", count=2, timeout=20)
    mine = {e["data"]["payout_id"]: e["data"] for e in webhooks if e["data"]["firm_id"] == firm_id}
    assert mine == {trust["payout_id"]: trust, operating["payout_id"]: operating}
    assert await sandbox.pay_out(firm_id) == []  # everything settled was paid out


async def test_a_dispute_won_pays_back_the_amount_and_the_fee(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    payment_id = await settle(sandbox, receiver, await sandbox.tokenize_card(), firm_id, 10000)
    await sandbox.pay_out(firm_id)
    await sandbox.http.post(
        f"/v1/sandbox/payments/{payment_id}/dispute", json={"outcome": "won"}, headers=sandbox.secret
    )
    await receiver.wait_for("dispute.closed", payment_id)
    payouts = {p["bank_account_id"]: p for p in await sandbox.pay_out(firm_id)}
    assert [(x["type"], x["amount"]) for x in payouts[TRUST]["lines"]] == [
        ("dispute", -10000),
        ("dispute_won", 10000),
    ]
    assert [(x["type"], x["amount"]) for x in payouts[OPERATING]["lines"]] == [("fee", -1500), ("fee", 1500)]
    assert payouts[TRUST]["amount"] == payouts[OPERATING]["amount"] == 0


async def test_concurrent_payouts_never_pay_a_line_twice(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    tokens = [await sandbox.tokenize_card() for _ in range(8)]
    payment_ids = await asyncio.gather(
        *(settle(sandbox, receiver, t, firm_id, 1000 + i) for i, t in enumerate(tokens))
    )
    runs = await asyncio.gather(*(sandbox.pay_out(firm_id) for _ in range(6)))
    lines: list[dict[str, Any]] = [line for run in runs for payout in run for line in payout["lines"]]
    paid = Counter((line["type"], line["payment_id"]) for line in lines)
    assert all(count == 1 for count in paid.values()), paid
    assert {pid for kind, pid in paid if kind == "payment"} == set(payment_ids)
    assert {pid for kind, pid in paid if kind == "fee"} == set(payment_ids)
    assert sum(line["amount"] for line in lines if line["type"] == "payment") == sum(
        1000 + i for i in range(8)
    )


async def test_a_payout_for_one_firm_leaves_the_others_alone(
    sandbox: Sandbox, receiver: WebhookRecorder, firm_id: str
) -> None:
    other_firm = f"{firm_id}-other"
    await settle(sandbox, receiver, await sandbox.tokenize_card(), firm_id, 1000)
    theirs = await settle(sandbox, receiver, await sandbox.tokenize_card(), other_firm, 2000)
    assert {p["firm_id"] for p in await sandbox.pay_out(firm_id)} == {firm_id}
    [trust] = [p for p in await sandbox.pay_out(other_firm) if p["bank_account_id"] == TRUST]
    assert [line["payment_id"] for line in trust["lines"]] == [theirs]


async def test_payouts_also_run_on_their_own_clock(receiver: WebhookRecorder, firm_id: str) -> None:
    from paylinks_runtime.testing import drop_schema, eventually
    from processor_sandbox.testing import running_sandbox, sandbox_settings

    def payments_paid_out() -> list[str]:
        """The payment lines of this firm's payout.paid webhooks. A round pays the trust and the fee
        account separately, and their webhooks may arrive in either order, so count lines, not webhooks."""
        return [
            line["payment_id"]
            for event in receiver.events("payout.paid")
            if event["data"]["firm_id"] == firm_id
            for line in event["data"]["lines"]
            if line["type"] == "payment"
        ]

    settings = sandbox_settings(receiver.url, sandbox_payout_seconds=0.5)
    async with running_sandbox(receiver.url, settings) as clocked:
        payment_id = await settle(clocked, receiver, await clocked.tokenize_card(), firm_id, 4200)
        await eventually(lambda: payments_paid_out() != [], timeout=20)
        await asyncio.sleep(4 * settings.sandbox_payout_seconds)  # later rounds find nothing left to pay
        assert payments_paid_out() == [payment_id]
        assert await clocked.pay_out(firm_id) == []
    await drop_schema(settings.db_schema)
