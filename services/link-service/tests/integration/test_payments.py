"""Payments through a bank-account link against the real sandbox processor: tokens, intake, its signed
webhooks, refusals, idempotency (one charge at the processor whatever the retries) and rate limits."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime

import httpx

from paylinks_events import Topic
from paylinks_runtime.metrics import SECURITY_REFUSALS
from paylinks_runtime.testing import CARD_EXPIRY_YEAR, TopicWatcher, header

from .conftest import DECLINED_CARD, OK_CARD, R01_ACCOUNT, card_payment, service_pool, service_target


def of_firm(firm: str, event_type: str):  # type: ignore[no-untyped-def]
    return lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == event_type


async def test_a_card_payment_is_charged_once_received_then_processed(service) -> None:
    firm, account_id, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        response = await service.pay(token, await service.card_payment(12_500))
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
    [charge] = await service.sandbox.charges(payment_id)
    assert charge["idempotency_key"] == f"payment:{payment_id}"


async def test_a_payment_through_the_qr_code_has_source_qr_code(service) -> None:
    firm, _, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        assert (await service.pay(token, await service.card_payment(100), via="qr")).status_code == 202
        [received] = await watcher.wait_for(of_firm(firm, "PaymentReceived"))
    assert json.loads(received.value)["source"] == "qr_code"


async def test_a_declined_card_is_402_and_nothing_is_recorded(service) -> None:
    firm, _, token = await service.new_account_token()
    response = await service.pay(token, await service.card_payment(100, number=DECLINED_CARD))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_declined"
    async with service_pool(service) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM events WHERE firm_id = $1 AND stream_type = 'payment'", firm
        )
    assert count == 0


async def test_an_echeck_is_processed_and_a_returned_one_fails_r01(service) -> None:
    firm, _, token = await service.new_account_token()
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        ok = await service.pay(token, await service.echeck_payment(30_000))
        returned = await service.pay(token, await service.echeck_payment(20_000, account=R01_ACCOUNT))
        assert (ok.status_code, returned.status_code) == (202, 202)
        [processed] = await watcher.wait_for(of_firm(firm, "PaymentProcessed"))
        [failed] = await watcher.wait_for(of_firm(firm, "PaymentFailed"))
        received = await watcher.wait_for(of_firm(firm, "PaymentReceived"), count=2)
    assert json.loads(processed.value)["payment_id"] == ok.json()["payment_id"]
    assert json.loads(processed.value)["method"] == "echeck"
    assert json.loads(failed.value)["payment_id"] == returned.json()["payment_id"]
    assert json.loads(failed.value)["reason"] == "R01"
    authorization = json.loads(received[0].value)["authorization"]
    assert authorization["text_version"] == "echeck-web-debit-v1"
    assert authorization["name"] == "Bo Client"


async def test_an_echeck_without_the_authorization_is_422_and_not_charged(service) -> None:
    _, _, token = await service.new_account_token()
    body = await service.echeck_payment(1_000)
    del body["authorization"]
    response = await service.pay(token, body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "authorization_required"
    assert await service.sandbox.charges(str(uuid.uuid4())) == []


async def test_a_used_or_unknown_token_is_422(service) -> None:
    _, _, token = await service.new_account_token()
    body = await service.card_payment(100)
    assert (await service.pay(token, body)).status_code == 202
    again = await service.pay(token, body)  # a new payment (no Idempotency-Key) with the used token
    unknown = await service.pay(token, card_payment(100, "pm_unknown0000"))
    assert (again.status_code, again.json()["error"]["code"]) == (422, "payment_method_used")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "payment_method_invalid")


async def test_card_and_bank_numbers_are_refused_and_never_logged(service, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    _, _, token = await service.new_account_token()
    bodies = [
        card_payment(
            100, "pm_x", card={"number": OK_CARD, "exp_month": 12, "exp_year": CARD_EXPIRY_YEAR, "cvc": "123"}
        ),
        card_payment(100, "pm_x", bank={"routing_number": "110000000", "account_number": "000123456789"}),
        card_payment(100, "pm_x", reference=f"card {OK_CARD}"),
        {"amount": "bad", "payer": {"name": DECLINED_CARD}},
    ]
    refused = [await service.pay(token, body) for body in bodies]
    refused.append(await service.pay(token, card_payment(100, "pm_x"), key=f"key-{OK_CARD}"))
    for response in refused:
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "raw_payment_details_refused"
        assert OK_CARD not in response.text
    captured = capfd.readouterr()
    logs = "\n".join([caplog.text, captured.out, captured.err])
    for secret in (OK_CARD, DECLINED_CARD, "000123456789"):
        assert secret not in logs


async def test_unknown_and_tampered_tokens_are_404_alike(service) -> None:
    _, _, token = await service.new_account_token()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = []
    for bad in (tampered, "x" * 43, "short"):
        page = await service.client.get(f"/v1/pay/{bad}")
        attempt = await service.pay(bad, card_payment(100, "pm_abc"))
        attempt_bad_body = await service.pay(bad, {"amount": "lots"})
        answers += [(r.status_code, r.json()) for r in (page, attempt, attempt_bad_body)]
    assert {status for status, _ in answers} == {404}
    assert len({json.dumps(body) for _, body in answers}) == 1
    assert (await service.client.get(f"/v1/pay/{token}")).status_code == 200


async def test_the_link_view_names_the_firm_and_the_processor(service) -> None:
    _, _, token = await service.new_account_token()
    assert await service.link_status(token) == {
        "kind": "bank_account",
        "status": "open",
        "firm_name": "Smith & Lee Trust",  # no display name yet: the account's name
        "bank_account_name": "Smith & Lee Trust",
        "currency": "USD",
        "amount_due": None,
        "processor": {
            "url": service.sandbox.base_url,
            "publishable_key": service.sandbox.settings.processor_publishable_key,
        },
    }


async def test_a_firm_without_an_operating_account_is_refused_with_a_reason(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)  # trust only
    link = await service.account_link(firm, account_id)
    response = await service.pay(link["url"].rsplit("/pay/", 1)[1], await service.card_payment(100))
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "fee_account_required",
        "message": "the firm has no operating account to take processing fees from",
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
        response = await service.pay(token, card_payment(amount, "pm_notcharged"))  # type: ignore[arg-type]
        assert response.status_code == 422, amount
        assert response.json()["error"]["code"] == code, amount
    assert (await service.pay(token, await service.card_payment(limit))).status_code == 202


async def test_bad_bodies_are_422_with_a_reason_that_echoes_nothing(service) -> None:
    _, _, token = await service.new_account_token()
    no_token = card_payment(100, "pm_x")
    del no_token["payment_method"]
    bad_email = card_payment(100, "pm_x")
    bad_email["payer"]["email"] = "not-an-email"
    not_a_token = card_payment(100, "tok_1234")
    for body, words in ((no_token, "payment_method"), (bad_email, "email"), (not_a_token, "payment_method")):
        response = await service.pay(token, body)
        assert response.status_code == 422
        assert words in response.json()["error"]["message"]
    assert "tok_1234" not in response.json()["error"]["message"]


async def test_the_same_key_and_body_returns_the_first_response_and_charges_once(service) -> None:
    firm, _, token = await service.new_account_token()
    key, body = str(uuid.uuid4()), await service.card_payment(700)
    first = await service.pay(token, body, key=key)
    again = await service.pay(token, body, key=key)
    other_body = await service.pay(token, {**body, "amount": 701}, key=key)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await service.sandbox.charges(first.json()["payment_id"])) == 1
    async with service_pool(service) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM events WHERE firm_id = $1 AND event_type = 'PaymentReceived'", firm
        )
    assert count == 1


async def test_thirty_concurrent_retries_with_one_key_make_one_charge(service) -> None:
    firm, _, token = await service.new_account_token()
    key, body = str(uuid.uuid4()), await service.card_payment(3_000)
    answers = await asyncio.gather(*(service.pay(token, body, key=key) for _ in range(30)))
    statuses = {r.status_code for r in answers}
    assert statuses <= {202, 409, 429}  # in flight, or over the per-link limit: never a second charge
    payment_ids = {r.json()["payment_id"] for r in answers if r.status_code == 202}
    assert len(payment_ids) == 1
    [payment_id] = payment_ids
    assert len(await service.sandbox.charges(payment_id)) == 1
    async with service_pool(service) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM events WHERE firm_id = $1 AND event_type = 'PaymentReceived'", firm
        )
    assert count == 1


async def test_a_refusal_is_replayed_for_the_same_key(service) -> None:
    _, _, token = await service.new_account_token()
    key, body = str(uuid.uuid4()), await service.card_payment(100, number=DECLINED_CARD)
    first = await service.pay(token, body, key=key)
    again = await service.pay(token, body, key=key)
    assert first.status_code == again.status_code == 402
    assert first.json() == again.json()


async def test_malformed_bodies_cost_nothing_and_one_client_cannot_lock_a_link(service) -> None:
    _, _, token = await service.new_account_token()
    limit = service.settings.pay_attempts_per_link_and_client
    for _ in range(limit + 5):  # the probe's "ten POST {}": refused, and not counted
        assert (await service.client.post(f"/v1/pay/{token}/payments", json={})).status_code == 422
    statuses = [(await service.pay(token, card_payment(0, "pm_x"))).status_code for _ in range(limit + 1)]
    assert statuses[:-1] == [422] * limit  # well formed, refused by the intake: these count
    assert statuses[-1] == 429
    # another client on the same link (a printed QR code) still pays
    other_client = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=service.settings.public_base_url, transport=other_client) as other:
        body = await service.card_payment(100)
        assert (await other.post(f"/v1/pay/{token}/payments", json=body)).status_code == 202


async def test_a_burst_of_declines_pauses_the_link_and_is_logged(service) -> None:
    # Card testing: a tester tries card after card on one link. After the burst the link refuses even a good
    # card for a while; other links go on; the security log counts the pause (its alert tells operators), and
    # one LinkPaused on link.events tells the firm's staff (the notifier emails them): once per pause, not
    # once per refused request.
    paused_before = _refusals("link_paused")
    firm, account_id, token = await service.new_account_token()
    _, _, other_token = await service.new_account_token()
    burst = service.settings.link_declines_before_pause + 1
    async with TopicWatcher(Topic.LINK) as watcher:
        for _ in range(burst):
            declined = await service.pay(token, await service.card_payment(100, number=DECLINED_CARD))
            assert declined.status_code == 402
        for _ in range(2):  # refused while paused: no new pause, no new event
            paused = await service.pay(token, await service.card_payment(100))
            assert paused.status_code == 429
            assert paused.json()["error"]["code"] == "link_paused"
        assert (await service.pay(other_token, await service.card_payment(100))).status_code == 202
        [record] = await watcher.wait_for(of_firm(firm, "LinkPaused"))
    assert _refusals("link_paused") == paused_before + 1
    target = await service_target(service, token)
    data = json.loads(record.value)
    assert record.key.decode() == data["link_id"] == target.link_id
    assert (data["firm_id"], data["bank_account_id"], data["bill_id"]) == (firm, account_id, None)
    assert (data["declines"], data["window_seconds"]) == (
        burst,
        int(service.settings.link_decline_window_seconds),
    )
    pause = datetime.fromisoformat(data["paused_until"]) - datetime.fromisoformat(data["paused_at"])
    assert pause.total_seconds() == service.settings.link_pause_seconds
    assert not {"card", "number", "payment_method", "token"} & set(data)
    assert await _link_paused_events(service, firm) == 1  # every event recorded is published: one


async def test_declines_in_flight_when_the_link_pauses_make_one_pause(service) -> None:
    # Card testers fire in parallel: declines that were already at the processor when the link paused do
    # not pause it again (nor tell the firm again).
    firm, _, token = await service.new_account_token()
    attempts = service.settings.pay_attempts_per_link_and_client  # all of them within the client's budget
    bodies = [await service.card_payment(100, number=DECLINED_CARD) for _ in range(attempts)]
    async with TopicWatcher(Topic.LINK) as watcher:
        responses = await asyncio.gather(*(service.pay(token, body) for body in bodies))
        assert {r.status_code for r in responses} <= {402, 429}
        assert [r.status_code for r in responses].count(402) > service.settings.link_declines_before_pause
        await watcher.wait_for(of_firm(firm, "LinkPaused"))
    assert await _link_paused_events(service, firm) == 1


async def _link_paused_events(service, firm: str) -> int:  # type: ignore[no-untyped-def]
    async with service_pool(service) as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE firm_id = $1 AND event_type = 'LinkPaused'", firm
        )
    return count


def _refusals(reason: str) -> float:
    return SECURITY_REFUSALS.labels(reason)._value.get()
