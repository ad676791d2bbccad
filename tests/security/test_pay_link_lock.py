"""Nobody can lock a pay link for everyone (issue #18, medium): the probe's ten `POST {}` locked any link, the
printed QR code's included, for every payer for 60 s. Malformed bodies cost nothing; the per-link limit keys
on (link, client), under a generous ceiling per link whoever sends."""

from __future__ import annotations

from .firm import Firm, payment_body
from .system import System, client_address, http_client


def _limits(system: System) -> tuple[int, int]:
    settings = system.link.settings
    return settings.pay_attempts_per_link_and_client, settings.pay_attempts_per_link  # type: ignore[attr-defined]


async def test_malformed_bodies_do_not_lock_a_link_not_even_for_their_sender(
    system: System, firm: Firm
) -> None:
    # Protection: LinkServiceParts.limit_attempts runs inside the route, after the body validated: a
    # malformed one never reaches it.
    token = await firm.account_token()
    per_client, _ = _limits(system)
    async with http_client(system.link.url) as prober:
        for body in [{}] * (per_client + 5) + [{"amount": "x"}, {"payer": None}]:
            answer = await prober.post(f"/v1/pay/{token}/payments", json=body)
            assert answer.status_code == 422, answer.text
        paid = await prober.post(f"/v1/pay/{token}/payments", json=await firm.tokenized(payment_body(1_000)))
    assert paid.status_code == 202, paid.text


async def test_one_client_spends_its_own_budget_on_a_link_and_nobody_elses(
    system: System, firm: Firm
) -> None:
    # Protection: the (link, client) limiter: a client's well-formed attempts lock only that client.
    token = await firm.account_token()
    per_client, _ = _limits(system)
    async with http_client(system.link.url) as tester:
        refused = [
            (await tester.post(f"/v1/pay/{token}/payments", json=payment_body(0, payment_method="pm_x")))
            for _ in range(per_client)
        ]
        assert {answer.status_code for answer in refused} == {422}  # well formed, refused by the intake
        locked = await tester.post(
            f"/v1/pay/{token}/payments", json=await firm.tokenized(payment_body(1_000))
        )
        assert (locked.status_code, locked.json()["error"]["code"]) == (429, "too_many_requests")
    async with http_client(system.link.url) as payer:
        paid = await payer.post(f"/v1/pay/{token}/payments", json=await firm.tokenized(payment_body(1_000)))
    assert paid.status_code == 202, paid.text


async def test_a_link_has_a_ceiling_whoever_sends_and_other_links_go_on(system: System, firm: Firm) -> None:
    # Protection: the per-link limiter, a ceiling over every client (a botnet testing cards on one link).
    token, other_token = await firm.account_token(), await firm.account_token()
    per_client, per_link = _limits(system)
    sent = 0
    while sent < per_link:
        async with http_client(system.link.url, client_address()) as client:
            for _ in range(min(per_client, per_link - sent)):
                body = payment_body(0, payment_method="pm_x")
                assert (await client.post(f"/v1/pay/{token}/payments", json=body)).status_code == 422
                sent += 1
    async with http_client(system.link.url) as newcomer:
        locked = await newcomer.post(
            f"/v1/pay/{token}/payments", json=await firm.tokenized(payment_body(1_000))
        )
        assert (locked.status_code, locked.json()["error"]["code"]) == (429, "too_many_requests")
        body = await firm.tokenized(payment_body(1_000))
        assert (await newcomer.post(f"/v1/pay/{other_token}/payments", json=body)).status_code == 202
