"""Intake with the fake processor: charged at most once whatever the retries, crashes and races."""

from __future__ import annotations

import asyncio
import json

import pytest

from link_service.commands.errors import PaymentDeclined
from link_service.commands.processor_reports import record_report
from link_service.processor.webhook_events import PaymentFailedData, Webhook
from link_service.store import links
from link_service.store.tables import PostgresReportLedger, report_writer
from paylinks_runtime.aggregate import DomainError

from .conftest import Desk, card, echeck


async def refusal(awaitable: object) -> str:
    with pytest.raises(DomainError) as refused:
        await awaitable  # type: ignore[misc]
    return refused.value.code


async def test_a_payment_is_charged_once_and_received_with_brand_and_last4(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    payment_id = await desk.pay(link, card(desk.processor.card("4242", "visa"), 12_500))
    [charge] = desk.processor.charged(payment_id)
    assert charge.idempotency_key == f"payment:{payment_id}"
    assert charge.amount == 12500
    data = json.loads(
        await desk.pool.fetchval(
            "SELECT data FROM events WHERE stream_id = $1 AND event_type = 'PaymentReceived'", payment_id
        )
    )
    assert (data["card_brand"], data["last4"], data["amount"]) == ("visa", "4242", 12_500)


async def test_the_fee_account_is_the_firms_operating_account_even_for_a_trust_payment(desk: Desk) -> None:
    trust = await desk.account("trust")
    [operating] = await desk.pool.fetch(
        "SELECT bank_account_id FROM bank_accounts WHERE firm_id = $1 AND kind = 'operating'", desk.firm_id
    )
    payment_id = await desk.pay(await desk.link(trust), card(desk.processor.card()))
    [charge] = desk.processor.charged(payment_id)
    assert (charge.bank_account_id, charge.fee_bank_account_id) == (trust, operating["bank_account_id"])


async def test_without_a_chosen_fee_account_the_first_operating_account_registered_takes_the_fees(
    desk: Desk,
) -> None:
    [first] = await desk.pool.fetch(
        "SELECT bank_account_id FROM bank_accounts WHERE firm_id = $1 AND kind = 'operating'", desk.firm_id
    )
    second = await desk.account("operating")
    link = await desk.link(await desk.account("trust"))
    [charge] = desk.processor.charged(await desk.pay(link, card(desk.processor.card())))
    assert charge.fee_bank_account_id == first["bank_account_id"] != second
    await desk.pool.execute(
        "INSERT INTO firms (firm_id, display_name, fee_bank_account_id) VALUES ($1, 'Firm', $2)",
        desk.firm_id,
        second,
    )  # PUT /v1/firm chose the second
    [chosen] = desk.processor.charged(await desk.pay(link, card(desk.processor.card())))
    assert chosen.fee_bank_account_id == second


async def test_a_firm_without_an_operating_account_is_refused_before_any_charge(desk: Desk) -> None:
    desk.firm_id += "-trust-only"
    link = await desk.link(await desk.account("trust"))
    assert await refusal(desk.pay(link, card(desk.processor.card()))) == "fee_account_required"
    assert desk.processor.calls == 0


async def test_a_decline_is_one_answer_nothing_received_and_replayed_for_its_key(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    request = card(desk.processor.card(declined=True))
    assert await refusal(desk.pay(link, request, "key-1")) == "payment_declined"
    assert await refusal(desk.pay(link, request, "key-1")) == "payment_declined"
    assert desk.processor.calls == 1
    assert await desk.received_in_firm() == 0


async def test_a_used_or_unknown_token_is_refused(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    token = desk.processor.card()
    await desk.pay(link, card(token))
    assert await refusal(desk.pay(link, card(token))) == "payment_method_used"
    assert await refusal(desk.pay(link, card("pm_unknown"))) == "payment_method_invalid"


async def test_an_echeck_needs_the_authorization_and_keeps_it(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    unauthorized = echeck(desk.processor.bank(), accepted=False)
    assert await refusal(desk.pay(link, unauthorized)) == "authorization_required"
    assert desk.processor.calls == 0
    payment_id = await desk.pay(link, echeck(desk.processor.bank()))
    data = json.loads(
        await desk.pool.fetchval(
            "SELECT data FROM events WHERE stream_id = $1 AND event_type = 'PaymentReceived'", payment_id
        )
    )
    assert data["method"] == "echeck"
    assert data["last4"] == "6789"
    assert data["authorization"]["text_version"] == "echeck-web-debit-v1"
    assert data["authorization"]["name"] == "Bo Client"
    assert data["authorization"]["accepted_at"]


async def test_the_same_key_replays_and_another_body_with_it_is_refused(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    request = card(desk.processor.card(), 700)
    first = await desk.pay(link, request, "key-2")
    assert await desk.pay(link, request, "key-2") == first
    other = card(request.payment_method, 701)
    assert await refusal(desk.pay(link, other, "key-2")) == "idempotency_key_reused"
    assert len(desk.processor.charged(first)) == 1
    assert await desk.received_in_firm() == 1


async def test_a_key_whose_first_request_is_charging_is_in_flight(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    request = card(desk.processor.card())
    desk.processor.hold = asyncio.Event()
    first = asyncio.create_task(desk.pay(link, request, "key-3"))
    await _until(lambda: desk.processor.calls == 1)
    assert await refusal(desk.pay(link, request, "key-3")) == "idempotency_key_in_flight"
    desk.processor.hold.set()
    payment_id = await first
    assert await desk.pay(link, request, "key-3") == payment_id


async def test_thirty_concurrent_retries_of_one_key_charge_once(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    request = card(desk.processor.card())
    answers = await asyncio.gather(
        *(desk.pay(link, request, "key-30") for _ in range(30)), return_exceptions=True
    )
    payment_ids = {a for a in answers if isinstance(a, str)}
    assert len(payment_ids) == 1
    assert {a.code for a in answers if isinstance(a, DomainError)} <= {"idempotency_key_in_flight"}
    assert desk.processor.calls == 1
    assert await desk.received_in_firm() == 1


async def test_a_charge_whose_answer_was_lost_is_recovered_with_the_same_key_once(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    request = card(desk.processor.card())
    desk.processor.answer_lost = True  # charged, then the process died (or timed out) before recording it
    assert await refusal(desk.pay(link, request, "key-4")) == "payment_pending"
    assert await refusal(desk.pay(link, request, "key-4")) == "idempotency_key_in_flight"
    [payment_id] = [
        r.payment_id for r, _ in desk.processor.charges.values() if r.payment_method == request.payment_method
    ]
    assert await desk.received(payment_id) == 0
    desk.processor.answer_lost = False
    assert await desk.intake.recover_stranded(0) >= 1
    assert await desk.pay(link, request, "key-4") == payment_id
    assert len(desk.processor.charged(payment_id)) == 1
    assert await desk.received(payment_id) == 1
    assert {r.idempotency_key for r, _ in desk.processor.charges.values()} >= {f"payment:{payment_id}"}


async def test_the_request_and_the_recovery_racing_record_the_payment_once(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    desk.processor.hold = asyncio.Event()
    paying = asyncio.create_task(desk.pay(link, card(desk.processor.card())))
    await _until(lambda: desk.processor.calls == 1)
    recovering = asyncio.create_task(desk.intake.recover_stranded(0))
    await _until(lambda: desk.processor.calls == 2)
    desk.processor.hold.set()
    payment_id = await paying
    await recovering
    assert len(desk.processor.charged(payment_id)) == 1
    assert await desk.received(payment_id) == 1


async def test_an_unreachable_processor_leaves_the_attempt_to_recovery(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    desk.processor.unreachable = True
    assert await refusal(desk.pay(link, card(desk.processor.card()), "key-5")) == "payment_pending"
    desk.processor.unreachable = False
    await desk.intake.recover_stranded(0)
    payment_id = await desk.pay(link, card(next(iter(desk.processor.tokens))), "key-5")
    assert len(desk.processor.charged(payment_id)) == 1
    assert await desk.received(payment_id) == 1


async def test_parallel_payers_of_one_bill_never_exceed_its_balance(desk: Desk) -> None:
    bill = await desk.bill(1_000)
    link = await desk.link(await desk.account(), bill)
    answers = await asyncio.gather(
        *(desk.pay(link, card(desk.processor.card(), 300)) for _ in range(6)), return_exceptions=True
    )
    accepted = [a for a in answers if isinstance(a, str)]
    assert len(accepted) == 3
    assert {a.code for a in answers if isinstance(a, DomainError)} == {"amount_above_balance"}


async def test_a_payment_accepted_counts_until_it_fails(desk: Desk) -> None:
    bill = await desk.bill(500)
    link = await desk.link(await desk.account(), bill)
    first = await desk.pay(link, card(desk.processor.card(), 500))
    assert await refusal(desk.pay(link, card(desk.processor.card(), 500))) == "amount_above_balance"
    failed = Webhook(id=f"wh-{first}", type="payment.failed", data={})
    assert (
        await record_report(
            report_writer(desk.writer),
            PostgresReportLedger(desk.writer),
            failed,
            PaymentFailedData(payment_id=first, reason="R01"),
        )
        == "applied"
    )
    assert await desk.pay(link, card(desk.processor.card(), 500))


async def test_a_void_bill_refuses_payment_and_a_paid_one_too(desk: Desk) -> None:
    void = await desk.link(await desk.account(), await desk.bill(500, "void"))
    paid = await desk.link(await desk.account(), await desk.bill(500, "paid"))
    assert await refusal(desk.pay(void, card(desk.processor.card(), 100))) == "link_revoked"
    assert await refusal(desk.pay(paid, card(desk.processor.card(), 100))) == "bill_paid"
    assert desk.processor.calls == 0


async def _until(condition: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_a_payment_decided_on_a_bill_that_moved_is_decided_again_and_its_key_keeps_the_refusal(
    desk: Desk,
) -> None:
    link = await desk.link(await desk.account(), await desk.bill(500))
    async with desk.pool.acquire() as conn:
        stale = await links.target(conn, link)  # as a request read it, before another payer took the balance
    assert stale is not None
    await desk.pay(link, card(desk.processor.card(), 500))
    request = card(desk.processor.card(), 500)
    assert await refusal(desk.intake.pay(stale, request, "key-stale")) == "amount_above_balance"
    assert await refusal(desk.intake.pay(stale, request, "key-stale")) == "amount_above_balance"
    assert desk.processor.calls == 1
    assert await desk.pending(link) == 500


async def test_a_declined_charge_gives_its_amount_back_to_the_bill(desk: Desk) -> None:
    link = await desk.link(await desk.account(), await desk.bill(500))
    with pytest.raises(PaymentDeclined):  # its class: the pay route counts declines towards a pause
        await desk.pay(link, card(desk.processor.card(declined=True), 500))
    assert await desk.pending(link) == 0
    assert await desk.pay(link, card(desk.processor.card(), 500))
    assert await desk.pending(link) == 500


async def test_an_expired_key_is_a_new_request(desk: Desk) -> None:
    link = await desk.link(await desk.account())
    first = await desk.pay(link, card(desk.processor.card()), "key-old")
    await desk.pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE link_id = $1", link
    )
    second = await desk.pay(link, card(desk.processor.card(), 20_000), "key-old")
    assert second != first
    assert await desk.received_in_firm() == 2


async def test_keys_older_than_24_hours_are_forgotten_and_younger_ones_kept(desk: Desk) -> None:
    """The upkeep's pruning: a fingerprint is not kept past the 24 hours a key answers for."""
    link = await desk.link(await desk.account())
    await desk.pay(link, card(desk.processor.card()), "key-stale")
    await desk.pay(link, card(desk.processor.card(), 20_000), "key-fresh")
    await desk.pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'"
        " WHERE link_id = $1 AND key = 'key-stale'",
        link,
    )
    await desk.pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes'"
        " WHERE link_id = $1 AND key = 'key-fresh'",
        link,
    )
    assert await desk.intake.forget_expired_keys() >= 1
    kept = await desk.pool.fetch("SELECT key FROM idempotency_keys WHERE link_id = $1", link)
    assert [row["key"] for row in kept] == ["key-fresh"]
