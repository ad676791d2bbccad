"""Payments through a bank-account link: intake, the sandbox's real signed webhooks, refusals, idempotency
and rate limits."""

from __future__ import annotations

import json
import uuid

from link_service.api.payment_input import PaymentInput
from link_service.store import idempotency
from link_service.tokens import LinkTokens
from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, header

from .conftest import DECLINED_CARD, R01_ACCOUNT, card_payment, echeck_payment, service_pool, service_target


def of_firm(firm: str, event_type: str):  # type: ignore[no-untyped-def]
    return lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == event_type


async def test_a_card_payment_is_received_then_processed(service) -> None:
    firm, account_id, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        response = await service.pay(token, card_payment(12_500))
        assert response.status_code == 202
        payment_id = response.json()["payment_id"]
        assert response.json()["status"] == "received"
        [received] = await watcher.wait_for(of_firm(firm, "PaymentReceived"))
        [processed] = await watcher.wait_for(of_firm(firm, "PaymentProcessed"))
    data = json.loads(received.value)
    assert data["payment_id"] == payment_id == received.key.decode()
    assert (data["source"], data["method"], data["amount"], data["bank_account_id"]) == (
        "bank_account_link",
        "card",
        12_500,
        account_id,
    )
    assert (data["card_brand"], data["last4"], data["bill_id"], data["reference"]) == (
        "visa",
        "4242",
        None,
        "2026-0042",
    )
    assert data["payer"] == {"name": "Ada Client", "email": "ada@example.com"}
    assert json.loads(processed.value)["payment_id"] == payment_id


async def test_a_payment_through_the_qr_code_has_source_qr_code(service) -> None:
    firm, _, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        assert (await service.pay(token, card_payment(100), via="qr")).status_code == 202
        [received] = await watcher.wait_for(of_firm(firm, "PaymentReceived"))
    assert json.loads(received.value)["source"] == "qr_code"


async def test_a_declined_card_is_402_and_nothing_is_recorded(service) -> None:
    firm, _, token = await service.new_account_token()
    response = await service.pay(token, card_payment(100, number=DECLINED_CARD))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    async with service_pool(service) as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM events WHERE firm_id = $1 AND stream_type = 'payment'", firm
            )
            == 0
        )


async def test_an_echeck_is_processed_and_a_returned_one_fails_r01(service) -> None:
    firm, _, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        ok = await service.pay(token, echeck_payment(30_000))
        returned = await service.pay(token, echeck_payment(20_000, account=R01_ACCOUNT))
        assert (ok.status_code, returned.status_code) == (202, 202)
        [processed] = await watcher.wait_for(of_firm(firm, "PaymentProcessed"))
        [failed] = await watcher.wait_for(of_firm(firm, "PaymentFailed"))
        await watcher.wait_for(of_firm(firm, "PaymentReceived"), count=2)
    assert json.loads(processed.value)["payment_id"] == ok.json()["payment_id"]
    assert json.loads(processed.value)["method"] == "echeck"
    assert json.loads(failed.value)["payment_id"] == returned.json()["payment_id"]
    assert json.loads(failed.value)["reason"] == "R01"


async def test_unknown_and_tampered_tokens_are_404_alike(service) -> None:
    _, _, token = await service.new_account_token()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = []
    for bad in (tampered, "x" * 43, "short"):
        page = await service.client.get(f"/v1/pay/{bad}")
        attempt = await service.pay(bad, card_payment(100))
        attempt_bad_body = await service.pay(bad, {"amount": "lots"})
        answers += [(r.status_code, r.json()) for r in (page, attempt, attempt_bad_body)]
    assert {status for status, _ in answers} == {404}
    assert len({json.dumps(body) for _, body in answers}) == 1
    assert (await service.client.get(f"/v1/pay/{token}")).status_code == 200


async def test_the_link_view_of_a_bank_account_link(service) -> None:
    _, _, token = await service.new_account_token()
    assert await service.link_status(token) == {
        "kind": "bank_account",
        "status": "open",
        "bank_account_name": "Smith & Lee Trust",
        "currency": "USD",
        "amount_due": None,
    }


async def test_amounts_must_be_positive_integers_within_the_limit(service) -> None:
    _, _, token = await service.new_account_token()
    limit = service.settings.max_payment_amount
    for amount, code in (
        (0, "invalid_amount"),
        (-5, "invalid_amount"),
        (12.5, "validation_error"),
        ("100", "validation_error"),
        (True, "validation_error"),
        (limit + 1, "amount_above_limit"),
    ):
        response = await service.pay(token, card_payment(amount))
        assert response.status_code == 422, amount
        assert response.json()["error"]["code"] == code, amount
    assert (await service.pay(token, card_payment(limit))).status_code == 202


async def test_bad_payment_details_are_422_with_a_reason(service) -> None:
    _, _, token = await service.new_account_token()
    no_card = card_payment(100)
    del no_card["card"]
    expired = card_payment(100)
    expired["card"]["exp_year"] = 2020
    bad_email = card_payment(100)
    bad_email["payer"]["email"] = "not-an-email"
    short_routing = echeck_payment(100)
    short_routing["bank"]["routing_number"] = "1234"
    for body, words in (
        (no_card, "card details are required"),
        (expired, "expired"),
        (bad_email, "email"),
        (short_routing, "routing number"),
    ):
        response = await service.pay(token, body)
        assert response.status_code == 422
        assert words in response.json()["error"]["message"]
    assert "1234" not in response.json()["error"]["message"]  # the input itself is never echoed


async def test_the_same_idempotency_key_and_body_returns_the_first_response(service) -> None:
    firm, _, token = await service.new_account_token()
    key = str(uuid.uuid4())
    first = await service.pay(token, card_payment(700), key=key)
    again = await service.pay(token, card_payment(700), key=key)
    other_body = await service.pay(token, card_payment(701), key=key)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    async with service_pool(service) as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM events WHERE firm_id = $1 AND event_type = 'PaymentReceived'", firm
            )
            == 1
        )


async def test_a_refusal_is_replayed_for_the_same_key(service) -> None:
    _, _, token = await service.new_account_token()
    key = str(uuid.uuid4())
    first = await service.pay(token, card_payment(100, number=DECLINED_CARD), key=key)
    again = await service.pay(token, card_payment(100, number=DECLINED_CARD), key=key)
    assert first.status_code == again.status_code == 402
    assert first.json() == again.json()


async def test_a_key_whose_first_request_is_in_flight_is_409(service) -> None:
    _, _, token = await service.new_account_token()
    key, body = str(uuid.uuid4()), card_payment(900)
    link_id = (await service_target(service, token)).link_id
    fingerprint = LinkTokens(service.settings.link_token_secret).fingerprint(
        PaymentInput.model_validate(body).to_request(via_qr=False).canonical()
    )
    async with service_pool(service) as conn:
        assert await idempotency.claim(conn, link_id, key, fingerprint) is None  # the first attempt, mid-way
    response = await service.pay(token, body, key=key)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"


async def test_too_many_attempts_on_one_link_are_429(service) -> None:
    _, _, token = await service.new_account_token()
    _, _, other_token = await service.new_account_token()
    statuses = [
        (await service.pay(token, card_payment(0))).status_code
        for _ in range(service.settings.pay_attempts_per_token + 1)
    ]
    assert statuses[:-1] == [422] * service.settings.pay_attempts_per_token
    assert statuses[-1] == 429
    assert (await service.pay(other_token, card_payment(100))).status_code == 202
