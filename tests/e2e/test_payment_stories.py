"""The product's stories end to end: four service processes, real Kafka, Postgres and SMTP."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import pytest

from paylinks_devstack import practice
from paylinks_devstack.client import ECHECK_RETURNED, PaylinksClient, token_of
from paylinks_devstack.mailbox import Mailbox
from paylinks_events import Topic
from paylinks_runtime.auth import decode_payment_grant
from paylinks_runtime.testing import BOOTSTRAP, GRANT_KEYS, TopicWatcher, header

pytestmark = pytest.mark.timeout(300)


async def register_accounts(firm: PaylinksClient) -> dict[str, str]:
    ids = {
        kind: await firm.register_account(f"{kind.title()} Account", kind) for kind in ("trust", "operating")
    }
    await firm.call(
        "PUT",
        "notifier",
        "/v1/notification-recipients",
        expect=200,
        json={"emails": [f"staff@{firm.firm_id}.example"]},
    )
    return ids


async def open_matter(firm: PaylinksClient, number: str) -> tuple[str, str]:
    contact_id, matter_id = f"c-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    await practice.publish(
        BOOTSTRAP,
        [
            practice.contact(firm.firm_id, contact_id, "Dana Whitfield", "dana@example.com"),
            practice.matter(firm.firm_id, matter_id, contact_id, "Whitfield Estate", number),
        ],
    )
    return contact_id, matter_id


def of_firm(firm: PaylinksClient, event_type: str) -> Any:
    return lambda r: header(r, "ce_firmid") == firm.firm_id and header(r, "ce_type") == event_type


async def test_a_card_payment_through_a_bank_account_link_is_emailed_twice_and_linked_by_staff(
    firm: PaylinksClient, mailbox: Mailbox
) -> None:
    accounts = await register_accounts(firm)
    _, matter_id = await open_matter(firm, "2026-0042")
    link = await firm.call("POST", "link-service", f"/v1/bank-accounts/{accounts['trust']}/payment-link")
    payer = f"Dana {uuid.uuid4().hex[:6]}"

    async with TopicWatcher(Topic.PAYMENT) as payments, TopicWatcher(Topic.RECONCILIATION) as reconciliation:
        response = await firm.pay(token_of(link["url"]), 125000, payer, reference="2026-0042")
        assert response.status_code == 202
        payment_id = response.json()["payment_id"]
        (received,) = await payments.wait_for(of_firm(firm, "PaymentReceived"))
        (processed,) = await payments.wait_for(of_firm(firm, "PaymentProcessed"))

        first = await mailbox.wait_for(payer, "received")
        second = await mailbox.wait_for(payer, "ready to link")
        assert second.button_url is not None
        assert second.button_url.startswith(
            f"{firm.config.url('reconciliation-service')}/payments/{payment_id}/link"
        )
        grant = second.button_url.split("grant=", 1)[1]
        assert decode_payment_grant(GRANT_KEYS, grant, payment_id).firm_id == firm.firm_id

        ready = await firm.when(partial(firm.payment, payment_id), "status", "ready")
        assert ready["amount"] == 125000
        listing = await firm.call(
            "GET", "reconciliation-service", "/v1/unlinked-payments", params={"status": "ready"}
        )
        assert payment_id in [p["payment_id"] for p in listing["items"]]

        linked = await firm.call(
            "POST", "reconciliation-service", f"/v1/payments/{payment_id}/link", json={"matter_id": matter_id}
        )
        assert linked["status"] == "linked"
        (event,) = await reconciliation.wait_for(of_firm(firm, "PaymentLinked"))

    assert received.key == processed.key == payment_id.encode()
    assert b'"source":"bank_account_link"' in received.value
    assert b"4242424242424242" not in received.value
    assert b"4242424242424242" not in first.message.as_bytes()
    assert matter_id.encode() in event.value
    after = await firm.call("GET", "reconciliation-service", "/v1/unlinked-payments")
    assert payment_id not in [p["payment_id"] for p in after["items"]]
    assert len(mailbox.matching(payer)) == 2


async def test_a_bill_paid_in_two_parts_becomes_paid_and_its_link_refuses_more(firm: PaylinksClient) -> None:
    accounts = await register_accounts(firm)
    contact_id, matter_id = await open_matter(firm, "2026-0057")
    bill_id = (await firm.issue_bill(matter_id, contact_id, 300000))["bill_id"]
    token = token_of(await firm.bill_link(bill_id, accounts["operating"]))
    page = await firm.pay_page(token)
    assert (page["kind"], page["status"], page["amount_due"]) == ("bill", "open", 300000)

    async with TopicWatcher(Topic.BILLING) as billing:
        assert (await firm.pay(token, 100000, "Marcus Lee")).status_code == 202
        partly = await firm.when(partial(firm.bill, bill_id), "state", "partially_paid")
        assert partly["balance"] == 200000
        assert (await firm.pay(token, 200000, "Marcus Lee")).status_code == 202
        paid = await firm.when(partial(firm.bill, bill_id), "state", "paid")
        applied = await billing.wait_for(of_firm(firm, "BillPaymentApplied"), count=2)
        await billing.wait_for(of_firm(firm, "BillPaid"))

    assert paid["balance"] == 0
    assert len(paid["payments"]) == 2
    assert [b'"balance":200000' in r.value for r in applied] == [True, False]
    closed = await firm.when(partial(firm.pay_page, token), "status", "paid")
    assert closed["amount_due"] == 0
    refused = await firm.pay(token, 100, "Marcus Lee")
    assert refused.status_code == 410


async def test_voiding_a_bill_revokes_its_link(firm: PaylinksClient) -> None:
    accounts = await register_accounts(firm)
    contact_id, matter_id = await open_matter(firm, "2026-0060")
    bill = await firm.issue_bill(matter_id, contact_id, 45000)
    token = token_of(await firm.bill_link(bill["bill_id"], accounts["trust"]))
    async with TopicWatcher(Topic.LINK) as links:
        await firm.call("POST", "billing-service", f"/v1/bills/{bill['bill_id']}/void", expect=200)
        (revoked,) = await links.wait_for(of_firm(firm, "LinkRevoked"))
    assert b'"reason":"bill_voided"' in revoked.value
    assert (await firm.pay_page(token))["status"] == "void"
    response = await firm.pay(token, 45000, "Dana Whitfield")
    assert response.status_code == 410
    assert response.json()["error"]["message"]


async def test_a_returned_echeck_through_the_qr_code_is_failed_and_emailed(
    firm: PaylinksClient, mailbox: Mailbox
) -> None:
    accounts = await register_accounts(firm)
    link = await firm.call("POST", "link-service", f"/v1/bank-accounts/{accounts['trust']}/payment-link")
    payer = f"Priya {uuid.uuid4().hex[:6]}"
    async with TopicWatcher(Topic.PAYMENT) as payments:
        response = await firm.pay(
            token_of(link["url"]), 80000, payer, method="echeck", bank=ECHECK_RETURNED, via_qr=True
        )
        assert response.status_code == 202
        payment_id = response.json()["payment_id"]
        (received,) = await payments.wait_for(of_firm(firm, "PaymentReceived"))
        (failed,) = await payments.wait_for(of_firm(firm, "PaymentFailed"))
    assert b'"source":"qr_code"' in received.value
    assert b'"reason":"R01"' in failed.value
    await firm.when(partial(firm.payment, payment_id), "status", "failed")
    email = await mailbox.wait_for(payer, "R01")
    assert "000111111113" not in email.message.as_string()
