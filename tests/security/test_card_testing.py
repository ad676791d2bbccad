"""Card testing (issue #18, medium): one-cent payments, distinct answers, no trace. A firm's minimum amount
(default one unit of the currency), one answer to the payer for any decline, and a breaker that pauses a
link after a burst of declines (counted in the security log, which an alert watches)."""

from __future__ import annotations

from paylinks_runtime.card_data import DECLINED_CARD

from .firm import Firm, card, payment_body
from .system import System, http_client
from .test_security_log import refusal_count


async def test_a_one_cent_payment_is_refused_before_the_processor(system: System, firm: Firm) -> None:
    # Protection: PayTarget.check_payable's minimum (the firm's minimum_payment_amount, else 1.00).
    token = await firm.account_token()
    one_cent = await firm.pay(token, payment_body(1))
    assert (one_cent.status_code, one_cent.json()["error"]["code"]) == (422, "amount_below_minimum")
    assert "1.00" in one_cent.json()["error"]["message"]
    assert (await firm.pay(token, payment_body(100))).status_code == 202  # 1.00 is taken


async def test_a_burst_of_declines_pauses_the_link_with_one_answer_and_a_count(
    system: System, firm: Firm
) -> None:
    # Protection: one 402 payment_declined whatever the processor's reason; LinkServiceParts.count_decline
    # pauses the link after LINK_DECLINES_BEFORE_PAUSE declines and logs it (reason link_paused).
    token, other_token = await firm.account_token(), await firm.account_token()
    burst = system.link.settings.link_declines_before_pause + 1  # type: ignore[attr-defined]
    paused_before = await refusal_count(system, "link_paused")
    async with http_client(system.link.url) as tester:
        answers = []
        for _ in range(burst):
            body = await firm.tokenized(payment_body(1_000, card=card(DECLINED_CARD)))
            answers.append(await tester.post(f"/v1/pay/{token}/payments", json=body))
        assert {(a.status_code, a.json()["error"]["code"]) for a in answers} == {(402, "payment_declined")}
        assert len({a.json()["error"]["message"] for a in answers}) == 1
    async with http_client(system.link.url) as payer:  # another client with a good card: paused too
        good = await payer.post(f"/v1/pay/{token}/payments", json=await firm.tokenized(payment_body(1_000)))
        assert (good.status_code, good.json()["error"]["code"]) == (429, "link_paused")
        elsewhere = await firm.tokenized(payment_body(1_000))
        assert (await payer.post(f"/v1/pay/{other_token}/payments", json=elsewhere)).status_code == 202
    assert await refusal_count(system, "link_paused") == paused_before + 1
