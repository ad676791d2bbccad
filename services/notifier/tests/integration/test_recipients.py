"""PUT /v1/notification-recipients, and where a payment's email goes."""

from __future__ import annotations

import json

import pytest

from notifier import email_outbox, store
from notifier.api import EmailView
from paylinks_runtime.testing import auth_header, eventually

PATH = "/v1/notification-recipients"


async def test_a_bank_account_group_gets_that_accounts_mail_instead_of_the_firm_group(firm) -> None:
    trust, operating = await firm.bank_account("IOLTA Trust"), await firm.bank_account("Operating")
    await firm.set_recipients("office")
    await firm.set_recipients("trust-desk", bank_account_id=trust)
    to_trust, to_operating = firm.received(trust), firm.received(operating)
    await firm.publish(to_trust, to_operating)

    [trust_mail] = await firm.wait_for_mail(1, who="trust-desk")
    [office_mail] = await firm.wait_for_mail(1, who="office")
    assert firm.subject(trust_mail).endswith("— IOLTA Trust")
    assert firm.subject(office_mail).endswith("— Operating")
    [row] = await firm.emails(to_trust.payment_id)  # rows exist before any send: no firm-group email was made
    assert row["recipient_group"] == f"bank_account:{trust}"
    assert row["recipients"] == [firm.address("trust-desk")]


async def test_an_empty_list_removes_the_bank_account_group(firm) -> None:
    trust = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients("office")
    await firm.set_recipients("trust-desk", bank_account_id=trust)
    response = await firm.client.put(PATH, json={"emails": [], "bank_account_id": trust}, headers=firm.admin)
    assert response.status_code == 200
    assert response.json() == {"bank_account_id": trust, "emails": []}
    await firm.publish(firm.received(trust))

    [mail] = await firm.wait_for_mail(1, who="office")
    assert firm.subject(mail).endswith("— IOLTA Trust")
    assert firm.mail("trust-desk") == []


async def test_recipients_are_listed_and_deduplicated(firm) -> None:
    emails = ["Ann@Firm.example", "ann@firm.example", "bob@firm.example"]
    response = await firm.client.put(PATH, json={"emails": emails}, headers=firm.admin)
    assert response.status_code == 200
    assert response.json() == {"bank_account_id": None, "emails": ["Ann@firm.example", "bob@firm.example"]}
    listed = await firm.client.get(PATH, headers=firm.staff)
    assert listed.json() == {
        "items": [{"bank_account_id": None, "emails": ["Ann@firm.example", "bob@firm.example"]}]
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"emails": ["not-an-email"]}, "emails.0"),
        ({"emails": ["a@b"]}, "emails.0"),
        ({"emails": "ops@firm.example"}, "emails"),
        ({}, "emails"),
        ({"emails": ["ops@firm.example"], "bank_account_id": ""}, "bank_account_id"),
        ({"emails": ["ops@firm.example"], "cc": ["x@firm.example"]}, "cc"),
        ({"emails": [f"u{n}@firm.example" for n in range(51)]}, "emails"),
    ],
)
async def test_bad_bodies_are_422_with_the_reason(firm, body, fragment) -> None:
    response = await firm.client.put(PATH, json=body, headers=firm.admin)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert fragment in error["message"]


async def test_only_admins_set_recipients(firm) -> None:
    body = {"emails": ["ops@firm.example"]}
    assert (await firm.client.put(PATH, json=body)).status_code == 401
    bad = {"Authorization": "Bearer not-a-jwt"}
    assert (await firm.client.put(PATH, json=body, headers=bad)).status_code == 401
    response = await firm.client.put(PATH, json=body, headers=firm.staff)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert (await firm.client.get(PATH)).status_code == 401


async def test_another_firms_or_an_unknown_bank_account_is_404(firm, firm_factory) -> None:
    other = firm_factory()
    theirs = await other.bank_account("Their Trust")
    await other.set_recipients("office", bank_account_id=theirs)  # known to the notifier from here on
    for bank_account_id in (theirs, "no-such-account"):
        body = {"emails": ["ops@firm.example"], "bank_account_id": bank_account_id}
        response = await firm.client.put(PATH, json=body, headers=firm.admin)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_emails_of_another_firm_are_not_listed(firm, firm_factory) -> None:
    account = await firm.bank_account()
    payment = firm.received(account)
    await firm.publish(payment)
    await eventually(lambda: firm.emails(payment.payment_id))
    outsider = auth_header(firm_factory().firm_id)
    response = await firm.client.get(
        "/v1/emails", params={"payment_id": payment.payment_id}, headers=outsider
    )
    assert response.status_code == 200
    assert response.json() == {"items": []}


async def test_the_typed_lists_answer_every_column_the_store_gives(firm, pool) -> None:
    # A response model drops a key it does not name: the store's rows and the API's items must agree.
    await firm.set_recipients()
    account = await firm.bank_account()
    payment = firm.received(account)
    await firm.publish(payment)
    [listed] = await eventually(lambda: firm.emails(payment.payment_id))
    async with pool.acquire() as conn:
        [stored] = await email_outbox.for_firm(conn, firm.firm_id, payment.payment_id, 10)
        groups = await store.list_recipients(conn, firm.firm_id)
    assert set(listed) == set(stored) == set(EmailView.model_fields)
    recipients = (await firm.client.get(PATH, headers=firm.staff)).json()["items"]
    assert [set(item) for item in recipients] == [set(group) for group in groups]
    assert recipients == json.loads(json.dumps(groups))
