"""Bill links: the service's view of bills from billing.events, the balance due, and revocation when a
bill is voided or paid. Bills are published here the way billing-service publishes them."""

from __future__ import annotations

import asyncio
import json
import uuid

from paylinks_events import BillPaymentApplied, BillPaymentReversed, Topic, utcnow
from paylinks_runtime.testing import TopicWatcher, eventually, header

from .conftest import token_of


def of_firm(firm: str, event_type: str):  # type: ignore[no-untyped-def]
    return lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == event_type


async def bill_with_link(service, amount: int = 50_000) -> tuple[str, str, str, str]:  # type: ignore[no-untyped-def]
    """(firm, bill id, bank account id, token) of a fresh bill with its link."""
    firm = service.new_firm()
    await service.register_account(firm, "Smith & Lee Operating", "operating")
    account_id = await service.register_account(firm)
    bill_id = await service.issue_bill(firm, amount)
    link = await service.bill_link_once_known(firm, bill_id, account_id)
    return firm, bill_id, account_id, token_of(link["url"])


async def test_a_bill_link_shows_the_balance_and_is_published(service) -> None:
    firm = service.new_firm()
    account_id = await service.register_account(firm)
    bill_id = await service.issue_bill(firm, 50_000)
    async with TopicWatcher(Topic.LINK) as watcher:
        link = await service.bill_link_once_known(firm, bill_id, account_id)
        [issued] = await watcher.wait_for(of_firm(firm, "LinkIssued"))
    assert link["kind"] == "bill"
    data = json.loads(issued.value)
    assert (data["link_id"], data["bill_id"], data["bank_account_id"], data["kind"]) == (
        link["link_id"],
        bill_id,
        account_id,
        "bill",
    )
    view = await service.link_status(token_of(link["url"]))
    assert {
        name: view[name] for name in ("kind", "status", "bank_account_name", "currency", "amount_due")
    } == {
        "kind": "bill",
        "status": "open",
        "bank_account_name": "Smith & Lee Trust",
        "currency": "USD",
        "amount_due": 50_000,
    }


async def test_unknown_or_another_firms_bill_is_404_and_an_unknown_account_422(service) -> None:
    firm, bill_id, account_id, _ = await bill_with_link(service)
    unknown = await service.bill_link(firm, str(uuid.uuid4()), account_id)
    stranger_firm = service.new_firm()
    stranger_account = await service.register_account(stranger_firm)
    strangers = await service.bill_link(stranger_firm, bill_id, stranger_account)
    wrong_account = await service.bill_link(firm, bill_id, stranger_account)
    assert (unknown.status_code, strangers.status_code) == (404, 404)
    assert wrong_account.status_code == 422
    assert wrong_account.json()["error"]["code"] == "unknown_bank_account"
    no_body = await service.client.post(
        f"/v1/bills/{bill_id}/payment-link", json={}, headers={"Authorization": "Bearer nonsense"}
    )
    assert no_body.status_code == 401


async def test_the_amount_due_follows_payments_applied_and_caps_the_payment(service) -> None:
    firm, bill_id, _, token = await bill_with_link(service, 50_000)
    await service.apply_to_bill(firm, bill_id, 20_000, balance=30_000)
    await eventually(lambda: _amount_due_is(service, token, 30_000))
    above = await service.pay(token, await service.card_payment(30_001))
    assert above.status_code == 422
    assert above.json()["error"]["code"] == "amount_above_balance"
    async with TopicWatcher(Topic.PAYMENT) as watcher:
        assert (await service.pay(token, await service.card_payment(30_000))).status_code == 202
        [received] = await watcher.wait_for(of_firm(firm, "PaymentReceived"))
        [processed] = await watcher.wait_for(of_firm(firm, "PaymentProcessed"))
    assert (json.loads(received.value)["source"], json.loads(received.value)["bill_id"]) == (
        "bill_link",
        bill_id,
    )
    assert json.loads(processed.value)["bill_id"] == bill_id


async def test_a_payment_accepted_counts_against_the_balance_until_billing_applies_it(service) -> None:
    firm, bill_id, _, token = await bill_with_link(service, 50_000)
    first = await service.pay(token, await service.card_payment(50_000))
    assert first.status_code == 202
    assert (await service.link_status(token))["amount_due"] == 0  # a reload shows nothing left to pay
    again = await service.pay(token, await service.card_payment(50_000))
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "amount_above_balance"
    # Billing applies it: the balance now holds it, and it stops counting as pending (never twice).
    await service.publish(
        BillPaymentApplied(
            bill_id=bill_id,
            firm_id=firm,
            payment_id=first.json()["payment_id"],
            amount=20_000,
            balance=30_000,
            applied_at=utcnow(),
        )
    )
    await eventually(lambda: _amount_due_is(service, token, 30_000))


async def test_parallel_payers_of_one_bill_never_exceed_its_balance(service) -> None:
    _, _, _, token = await bill_with_link(service, 10_000)
    bodies = [await service.card_payment(3_000) for _ in range(6)]
    answers = await asyncio.gather(*(service.pay(token, body) for body in bodies))
    accepted = [r.json()["payment_id"] for r in answers if r.status_code == 202]
    assert len(accepted) == 3
    assert {r.json()["error"]["code"] for r in answers if r.status_code != 202} == {"amount_above_balance"}
    charges = [await service.sandbox.charges(payment_id) for payment_id in accepted]
    assert sum(charge["amount"] for found in charges for charge in found) == 9_000
    assert (await service.link_status(token))["amount_due"] == 1_000


async def test_voiding_the_bill_revokes_its_link(service) -> None:
    firm, bill_id, account_id, token = await bill_with_link(service)
    async with TopicWatcher(Topic.LINK) as watcher:
        await service.void_bill(firm, bill_id)
        [revoked] = await watcher.wait_for(of_firm(firm, "LinkRevoked"))
        [closed] = await watcher.wait_for(of_firm(firm, "BillLinksClosed"))
    assert json.loads(revoked.value)["reason"] == "bill_voided"
    # what billing answers the void on: said in the transaction that revoked the link
    assert (header(closed, "ce_subject"), json.loads(closed.value)["links_revoked"]) == (bill_id, 1)
    assert (await service.link_status(token))["status"] == "void"
    attempt = await service.pay(token, await service.card_payment(100))
    assert attempt.status_code == 410
    assert attempt.json()["error"]["code"] == "link_revoked"
    again = await service.bill_link(firm, bill_id, account_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "bill_closed"


async def test_voiding_a_bill_without_links_is_said_too(service) -> None:
    # billing cannot tell "no links" from "link-service has not applied the void yet": it is told both
    firm = service.new_firm()
    bill_id = await service.issue_bill(firm)
    async with TopicWatcher(Topic.LINK) as watcher:
        await service.void_bill(firm, bill_id)
        [closed] = await watcher.wait_for(of_firm(firm, "BillLinksClosed"))
    assert (header(closed, "ce_subject"), json.loads(closed.value)["links_revoked"]) == (bill_id, 0)


async def test_a_paid_bill_takes_no_more_payments(service) -> None:
    firm, bill_id, account_id, token = await bill_with_link(service, 10_000)
    async with TopicWatcher(Topic.LINK) as watcher:
        await service.apply_to_bill(firm, bill_id, 10_000, balance=0)
        await service.pay_bill_off(firm, bill_id)
        [revoked] = await watcher.wait_for(of_firm(firm, "LinkRevoked"))
    assert json.loads(revoked.value)["reason"] == "bill_paid"
    view = await service.link_status(token)
    assert {name: view[name] for name in ("kind", "status", "firm_name", "currency", "amount_due")} == {
        "kind": "bill",
        "status": "paid",
        "firm_name": "Smith & Lee Trust",
        "currency": "USD",
        "amount_due": 0,
    }
    attempt = await service.pay(token, await service.card_payment(100))
    assert attempt.status_code == 410
    assert attempt.json()["error"]["code"] == "bill_paid"
    assert (await service.bill_link(firm, bill_id, account_id)).status_code == 409


async def _amount_due_is(service, token: str, amount: int) -> bool:  # type: ignore[no-untyped-def]
    return bool((await service.link_status(token))["amount_due"] == amount)


async def reverse(service, firm: str, bill_id: str, amount: int, balance: int) -> None:  # type: ignore[no-untyped-def]
    await service.publish(
        BillPaymentReversed(
            bill_id=bill_id,
            firm_id=firm,
            payment_id=str(uuid.uuid4()),
            amount=amount,
            balance=balance,
            reason="refund",
            reversed_at=utcnow(),
        )
    )


async def _link_view_is(service, token: str, status: str, amount_due: int) -> bool:  # type: ignore[no-untyped-def]
    view = await service.link_status(token)
    return bool(view["status"] == status and view["amount_due"] == amount_due)


async def test_a_payment_reversed_on_a_paid_bill_reopens_its_link_until_it_is_paid_again(service) -> None:
    firm, bill_id, _, token = await bill_with_link(service, 10_000)
    async with TopicWatcher(Topic.LINK) as watcher:
        await service.apply_to_bill(firm, bill_id, 10_000, balance=0)
        await service.pay_bill_off(firm, bill_id)
        await watcher.wait_for(of_firm(firm, "LinkRevoked"))
        await reverse(service, firm, bill_id, 4_000, balance=4_000)
        assert await eventually(lambda: _link_view_is(service, token, "open", 4_000))
        payment = await service.pay(token, await service.card_payment(4_000))
        assert payment.status_code == 202, payment.text
        above = await service.pay(token, await service.card_payment(1))
        assert above.json()["error"]["code"] == "amount_above_balance"  # the 4,000 is being paid
        await service.apply_to_bill(firm, bill_id, 4_000, balance=0)
        await service.pay_bill_off(firm, bill_id)
        revocations = await watcher.wait_for(of_firm(firm, "LinkRevoked"), count=2)
    assert [json.loads(r.value)["reason"] for r in revocations] == ["bill_paid", "bill_paid"]
    assert await eventually(lambda: _link_view_is(service, token, "paid", 0))


async def test_a_payment_reversed_on_a_voided_bill_leaves_its_link_dead(service) -> None:
    firm, bill_id, _, token = await bill_with_link(service, 10_000)
    await service.void_bill(firm, bill_id)
    await reverse(service, firm, bill_id, 4_000, balance=4_000)
    await service.apply_to_bill(firm, bill_id, 1_000, balance=9_000)  # the same bill's key: consumed after
    assert await eventually(
        lambda: _link_view_is(service, token, "void", 9_000)
    )  # the reversal changed nothing
    attempt = await service.pay(token, await service.card_payment(100))
    assert attempt.status_code == 410
