"""The firm's profile: its display name on the pay API, and the operating account its fees come from."""

from __future__ import annotations

import json
from typing import Any

from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, auth_header, header


async def put_profile(
    service: Any, firm: str, roles: tuple[str, ...] = ("staff", "admin"), **body: Any
) -> Any:
    return await service.client.put("/v1/firm", json=body, headers=auth_header(firm, roles=roles))


async def test_the_profile_is_published_and_names_the_firm_to_payers(service) -> None:
    firm, _, token = await service.new_account_token()
    async with TopicWatcher(Topic.LINK) as watcher:
        response = await put_profile(service, firm, display_name="Smith & Lee LLP")
        [updated] = await watcher.wait_for(
            lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == "FirmProfileUpdated"
        )
    assert response.status_code == 200
    assert response.json() == {
        "firm_id": firm,
        "display_name": "Smith & Lee LLP",
        "fee_bank_account_id": None,
        "minimum_payment_amount": None,
    }
    assert json.loads(updated.value)["display_name"] == "Smith & Lee LLP"
    assert updated.key == firm.encode()
    assert (await service.link_status(token))["firm_name"] == "Smith & Lee LLP"


async def test_the_fee_account_must_be_one_of_the_firms_operating_accounts(service) -> None:
    firm, trust, _ = await service.new_account_token()
    other_firm, _, _ = await service.new_account_token()
    others_operating = await service.register_account(other_firm, "Theirs", "operating")
    for account in (trust, others_operating, "no-such-account"):
        response = await put_profile(
            service, firm, display_name="Smith & Lee LLP", fee_bank_account_id=account
        )
        assert response.status_code == 422, account
        assert response.json()["error"]["code"] == "fee_account_not_operating"
    staff_only = await put_profile(service, firm, roles=("staff",), display_name="X")
    assert staff_only.status_code == 403


async def test_the_chosen_fee_account_takes_the_processing_fee(service) -> None:
    firm, _, token = await service.new_account_token()
    chosen = await service.register_account(firm, "Fees", "operating")
    response = await put_profile(service, firm, display_name="Smith & Lee LLP", fee_bank_account_id=chosen)
    assert response.status_code == 200
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        paid = await service.pay(token, await service.card_payment(10_000))
        payment_id = paid.json()["payment_id"]
        [fee] = await watcher.wait_for(
            lambda r: r.key == payment_id.encode() and header(r, "ce_type") == "FeeCharged"
        )
    assert json.loads(fee.value)["bank_account_id"] == chosen


async def test_a_firms_minimum_payment_stops_smaller_ones_before_the_processor(service) -> None:
    firm, _, token = await service.new_account_token()
    one_cent = await service.pay(token, await service.card_payment(1))  # the card tester's probe
    assert one_cent.status_code == 422
    assert one_cent.json()["error"]["code"] == "amount_below_minimum"
    response = await put_profile(service, firm, display_name="Smith & Lee LLP", minimum_payment_amount=2_500)
    assert response.json()["minimum_payment_amount"] == 2_500
    below = await service.pay(token, await service.card_payment(2_499))
    assert below.json()["error"]["code"] == "amount_below_minimum"
    assert "$25.00" in below.json()["error"]["message"]
    assert (await service.pay(token, await service.card_payment(2_500))).status_code == 202
