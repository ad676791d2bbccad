"""Refused attempts leave a trace: one structured line each in the security log (reason, detail, route,
client address; never the token), and a count per reason that an alert watches."""

from __future__ import annotations

import json
import secrets
from typing import Any

from paylinks_runtime.card_data import DECLINED_CARD

from .firm import Firm, card, payment_body
from .system import LINK, System, client_address, http_client
from .test_staff_auth import STAFF_READS, bad_authorizations


def refusals(system: System, client: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in system.logs.lines if '"paylinks.security"' in line)
    return [line for line in lines if line.get("client") == client]


async def refusal_count(system: System, reason: str) -> float:
    async with http_client(system.link.url) as scraper:
        metrics = (await scraper.get("/metrics")).text
    sample = f'paylinks_security_refusals_total{{reason="{reason}"}} '
    found = [line for line in metrics.splitlines() if line.startswith(sample)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_each_auth_failure_and_missing_role_is_one_line_without_the_token(
    system: System, firm: Firm
) -> None:
    # Protection: paylinks_runtime.security_log.RefusalLog around every service (401 and 403).
    address = client_address()
    before = await refusal_count(system, "unauthorized")
    expired = bad_authorizations(firm.id)["expired"]
    assert expired is not None
    for service, path in STAFF_READS:
        async with http_client(system.services[service].url, address) as client:
            assert (await client.get(path, headers={"Authorization": expired})).status_code == 401
            no_role = {"Authorization": f"Bearer {firm.staff['Authorization'].split()[1]}"}
            if service == LINK:
                forbidden = await client.post("/v1/bank-accounts", json={"name": "x"}, headers=no_role)
                assert forbidden.status_code == 403
    lines = refusals(system, address)
    unauthorized = [line for line in lines if line["reason"] == "unauthorized"]
    assert len(unauthorized) == len(STAFF_READS), lines
    assert {line["detail"] for line in unauthorized} == {"token expired"}
    assert {line["route"] for line in unauthorized} == {path for _, path in STAFF_READS}
    assert [line["status"] for line in lines if line["reason"] == "forbidden"] == [403]
    assert await refusal_count(system, "unauthorized") >= before + len(STAFF_READS)
    token = expired.split()[1]
    assert not any(token in line or token.split(".")[2] in line for line in system.logs.lines)


async def test_an_oversized_body_and_a_rate_limit_are_logged_with_the_client(system: System) -> None:
    # Protection: RefusalLog sees the 413 of LimitBodySize and the 429 of link-service's pay limits; the
    # route is the template, never the path with its token.
    address = client_address()
    async with http_client(system.link.url, address) as client:
        too_large = await client.post("/v1/bank-accounts", content=b"x" * (64 * 1024 + 1))
        assert too_large.status_code == 413
        guessed = secrets.token_urlsafe(32)
        for _ in range(200):
            if (await client.get(f"/v1/pay/{guessed}")).status_code == 429:
                break
        else:
            raise AssertionError("no 429 after 200 guesses")
    lines = refusals(system, address)
    assert [line["reason"] for line in lines if line["status"] == 413] == ["body_too_large"]
    limited = [line for line in lines if line["reason"] == "rate_limited"]
    assert limited
    assert all(line["route"] == "/v1/pay/{token}" for line in limited), limited
    assert not any(guessed in line for line in system.logs.lines)
    assert await refusal_count(system, "rate_limited") >= 1


async def test_a_declined_card_and_a_forged_webhook_are_logged_with_the_client(
    system: System, firm: Firm
) -> None:
    # Protection: RefusalLog counts the pay API's 402 (card testing is a burst of them); link-service's
    # webhook refuses a bad signature through security_log.refused.
    address = client_address()
    token = await firm.account_token()
    declined_before = await refusal_count(system, "payment_declined")
    body = await firm.tokenized(payment_body(1_000, card=card(DECLINED_CARD)))
    async with http_client(system.link.url, address) as client:
        declined = await client.post(f"/v1/pay/{token}/payments", json=body)
        assert declined.status_code == 402
        forged = await client.post(
            "/v1/processor/webhooks",
            content=b'{"id": "evt_forged", "type": "payment.succeeded", "data": {}}',
            headers={"Processor-Signature": "t=1,v1=" + "0" * 64},
        )
        assert forged.status_code == 400
    lines = refusals(system, address)
    assert [(line["reason"], line["route"]) for line in lines] == [
        ("payment_declined", "/v1/pay/{token}/payments"),
        ("bad_webhook_signature", "/v1/processor/webhooks"),
    ]
    assert not any(token in line or DECLINED_CARD in line for line in system.logs.lines)
    assert await refusal_count(system, "payment_declined") >= declined_before + 1
    assert await refusal_count(system, "bad_webhook_signature") >= 1


async def test_every_refused_payment_attempt_is_one_line_with_its_link_and_code(
    system: System, firm: Firm
) -> None:
    # Protection: the pay API's payments route marks itself an attempt (security_log.concerning), so each
    # of its 4xx answers is a line with the link it resolved to and the error code: card testing by
    # one-cent payments (amount_below_minimum), malformed bodies, declines; never the token or the card.
    account_id = await firm.register_account()
    issued = await firm.link.post(f"/v1/bank-accounts/{account_id}/payment-link", headers=firm.staff)
    link_id, token = issued.json()["link_id"], issued.json()["url"].rsplit("/pay/", 1)[1]
    address = client_address()
    before = await refusal_count(system, "attempt_refused")
    one_cent = await firm.tokenized(payment_body(1))
    declined = await firm.tokenized(payment_body(1_000, card=card(DECLINED_CARD)))
    async with http_client(system.link.url, address) as client:
        answers = [
            await client.post(f"/v1/pay/{token}/payments", json=body) for body in (one_cent, {}, declined)
        ]
    assert [a.status_code for a in answers] == [422, 422, 402]
    lines = refusals(system, address)
    assert [(line["reason"], line["code"], line["link_id"]) for line in lines] == [
        ("attempt_refused", "amount_below_minimum", link_id),
        ("attempt_refused", "validation_error", link_id),
        ("payment_declined", "payment_declined", link_id),
    ]
    assert {line["route"] for line in lines} == {"/v1/pay/{token}/payments"}
    assert not any(token in line or DECLINED_CARD in line for line in system.logs.lines)
    assert await refusal_count(system, "attempt_refused") >= before + 2
