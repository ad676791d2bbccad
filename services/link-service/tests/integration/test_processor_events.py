"""Every kind of processor webhook, caused at the real sandbox processor (its test controls) and recorded by
link-service as the contract's events: fees on the firm's operating account, disputes, returns, payouts."""

from __future__ import annotations

import json
import uuid
from typing import Any

from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, auth_header, header


def of_payment(payment_id: str, event_type: str):  # type: ignore[no-untyped-def]
    return lambda r: r.key == payment_id.encode() and header(r, "ce_type") == event_type


async def control(service: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    sandbox = service.sandbox
    headers = {**sandbox.secret, "Idempotency-Key": str(uuid.uuid4())}
    response = await sandbox.http.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def operating_account(service: Any, firm: str) -> str:
    accounts = (await service.client.get("/v1/bank-accounts", headers=auth_header(firm))).json()["items"]
    [operating] = [a["bank_account_id"] for a in accounts if a["kind"] == "operating"]
    return str(operating)


async def paid(service: Any, watcher: TopicWatcher, body: dict[str, Any]) -> tuple[str, str, str]:
    """(firm, trust account, payment id) of a payment the sandbox processed."""
    firm, account_id, token = await service.new_account_token()
    response = await service.pay(token, body)
    assert response.status_code == 202, response.text
    payment_id = response.json()["payment_id"]
    await watcher.wait_for(of_payment(payment_id, "PaymentProcessed"))
    return firm, account_id, payment_id


async def test_a_processed_card_payment_has_its_fee_charged_to_the_operating_account(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        firm, trust, payment_id = await paid(service, watcher, await service.card_payment(10_000))
        [processed] = await watcher.wait_for(of_payment(payment_id, "PaymentProcessed"))
        [fee] = await watcher.wait_for(of_payment(payment_id, "FeeCharged"))
    assert json.loads(processed.value)["fee"] == 320  # 2.9% + 30
    data = json.loads(fee.value)
    assert (data["kind"], data["amount"], data["currency"]) == ("processing", 320, "USD")
    assert data["bank_account_id"] == await operating_account(service, firm)
    assert data["bank_account_id"] != trust


async def test_a_dispute_won_is_opened_closed_and_its_fee_given_back(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        _, _, payment_id = await paid(service, watcher, await service.card_payment(5_000))
        await control(service, f"/v1/sandbox/payments/{payment_id}/dispute", {"outcome": "won"})
        [disputed] = await watcher.wait_for(of_payment(payment_id, "PaymentDisputed"))
        [closed] = await watcher.wait_for(of_payment(payment_id, "DisputeClosed"))
        fees = await watcher.wait_for(of_payment(payment_id, "FeeCharged"), count=3)
    assert json.loads(disputed.value)["amount"] == 5_000
    assert json.loads(closed.value)["outcome"] == "won"
    assert [(json.loads(f.value)["kind"], json.loads(f.value)["amount"]) for f in fees] == [
        ("processing", 175),
        ("dispute", 1_500),
        ("dispute", -1_500),
    ]


async def test_a_returned_echeck_is_recorded(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        _, trust, payment_id = await paid(service, watcher, await service.echeck_payment(8_000))
        await control(service, f"/v1/sandbox/payments/{payment_id}/return", {"reason": "R10"})
        [returned] = await watcher.wait_for(of_payment(payment_id, "PaymentReturned"))
    data = json.loads(returned.value)
    assert (data["reason"], data["amount"], data["bank_account_id"]) == ("R10", 8_000, trust)


async def test_a_payout_is_recorded_on_payout_events(service) -> None:
    async with TopicWatcher(Topic.PAYMENT) as payments, TopicWatcher(Topic.PAYOUT) as payouts:
        firm, trust, payment_id = await paid(service, payments, await service.card_payment(10_000))
        await service.sandbox.pay_out(firm)
        records = await payouts.wait_for(lambda r: header(r, "ce_firmid") == firm, count=2)
    by_account = {json.loads(r.value)["bank_account_id"]: json.loads(r.value) for r in records}
    trust_payout = by_account[trust]
    assert trust_payout["amount"] == 10_000  # gross: no fee netted out of a trust deposit
    assert [(line["type"], line["payment_id"]) for line in trust_payout["lines"]] == [("payment", payment_id)]
    [fees] = [p for account, p in by_account.items() if account != trust]
    assert fees["amount"] == -320
