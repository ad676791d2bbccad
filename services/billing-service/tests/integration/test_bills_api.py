"""Every billing-service endpoint of CONTRACT.md, success and each error code, on the real broker and DB."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from paylinks_events import Topic
from paylinks_runtime.auth import CLOCK_LEEWAY
from paylinks_runtime.testing import TopicWatcher, auth_header, header, unique

ENDPOINTS = [
    ("POST", "/v1/bills"),
    ("GET", "/v1/bills/some-bill"),
    ("GET", "/v1/bills"),
    ("POST", "/v1/bills/some-bill/void"),
]


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# --- staff authentication ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        auth_header("firm-x", secret="another-secret-entirely-0123456789"),
        auth_header("firm-x", ttl=-(CLOCK_LEEWAY + timedelta(seconds=10))),
    ],
    ids=["no-token", "garbage", "wrong-secret", "expired"],
)
async def test_without_a_valid_token_every_endpoint_is_401(client, method, path, headers) -> None:  # type: ignore[no-untyped-def]
    response = await client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_without_the_staff_role_every_endpoint_is_403(client, method, path) -> None:  # type: ignore[no-untyped-def]
    response = await client.request(method, path, headers=auth_header("firm-x", roles=("viewer",)), json={})
    assert response.status_code == 403
    assert error_code(response) == "forbidden"


# --- POST /v1/bills ----------------------------------------------------------------------------------------


async def test_issuing_a_bill_returns_it_unpaid_and_publishes_bill_issued(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    matter_id, contact_id = await world.matter(firm)
    body = {
        "matter_id": matter_id,
        "contact_id": contact_id,
        "amount": 12_500,
        "currency": "EUR",
        "bill_number": "INV-2026-001",
        "due_date": "2026-12-31",
    }
    async with TopicWatcher(Topic.BILLING) as billing_events:
        response = await client.post("/v1/bills", json=body, headers=auth_header(firm))
        assert response.status_code == 201, response.text
        bill = response.json()
        [record] = await billing_events.wait_for(lambda r: header(r, "ce_subject") == bill["bill_id"])
    assert {k: bill[k] for k in ("state", "amount", "balance", "currency", "bill_number", "due_date")} == {
        "state": "unpaid",
        "amount": 12_500,
        "balance": 12_500,
        "currency": "EUR",
        "bill_number": "INV-2026-001",
        "due_date": "2026-12-31",
    }
    assert (header(record, "ce_type"), header(record, "ce_firmid")) == ("BillIssued", firm)
    data = json.loads(record.value)
    assert (data["matter_id"], data["contact_id"], data["amount"], data["currency"]) == (
        matter_id,
        contact_id,
        12_500,
        "EUR",
    )


async def test_currency_defaults_to_usd(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=1)
    assert (bill["currency"], bill["bill_number"], bill["due_date"]) == ("USD", None, None)


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": "10000"},
        {"amount": 100.0},
        {"amount": 100.5},
        {"amount": 0},
        {"amount": -5},
        {"amount": True},
        {"amount": None},
        {"amount": 10**13},
        {"currency": "usd"},
        {"currency": "ABC"},
        {"currency": "US"},
        {"due_date": "31/12/2026"},
        {"bill_number": ""},
        {"matter_id": ""},
    ],
    ids=str,
)
async def test_an_invalid_bill_is_422_with_a_reason(world, client, firm, bad: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    matter_id, contact_id = await world.matter(firm)
    body = {"matter_id": matter_id, "contact_id": contact_id, "amount": 10_000, **bad}
    response = await client.post("/v1/bills", json=body, headers=auth_header(firm))
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert next(iter(bad)) in response.json()["error"]["message"]


async def test_a_bill_without_an_amount_is_422(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    matter_id, contact_id = await world.matter(firm)
    body = {"matter_id": matter_id, "contact_id": contact_id}
    response = await client.post("/v1/bills", json=body, headers=auth_header(firm))
    assert (response.status_code, error_code(response)) == (422, "validation_error")


@pytest.mark.parametrize(
    ("which", "code"),
    [
        ("unknown_matter", "unknown_matter"),
        ("unknown_contact", "unknown_contact"),
        ("other_firms_matter", "unknown_matter"),
        ("other_firms_contact", "unknown_contact"),
    ],
)
async def test_a_matter_or_contact_unknown_to_the_firm_is_422(world, client, firm, which, code) -> None:  # type: ignore[no-untyped-def]
    matter_id, contact_id = await world.matter(firm)
    other_matter, other_contact = await world.matter(unique("other_firm"))
    body = {"matter_id": matter_id, "contact_id": contact_id, "amount": 10_000}
    body.update(
        {
            "unknown_matter": {"matter_id": unique("matter")},
            "unknown_contact": {"contact_id": unique("contact")},
            "other_firms_matter": {"matter_id": other_matter},
            "other_firms_contact": {"contact_id": other_contact},
        }[which]
    )
    response = await client.post("/v1/bills", json=body, headers=auth_header(firm))
    assert (response.status_code, error_code(response)) == (422, code)
    listed = await client.get("/v1/bills", headers=auth_header(firm))
    assert listed.json()["items"] == []


# --- GET /v1/bills/{id} ------------------------------------------------------------------------------------


async def test_reading_a_bill(world, firm) -> None:  # type: ignore[no-untyped-def]
    issued = await world.issue_bill(firm, amount=7_700, bill_number="B-1")
    bill = await world.bill(firm, issued["bill_id"])
    assert bill == issued
    assert (bill["state"], bill["amount"], bill["balance"], bill["payments"]) == ("unpaid", 7_700, 7_700, [])


async def test_an_unknown_bill_is_404(client, firm) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/v1/bills/{unique('bill')}", headers=auth_header(firm))
    assert (response.status_code, error_code(response)) == (404, "not_found")


async def test_another_firms_bill_is_404(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm)
    response = await client.get(f"/v1/bills/{bill['bill_id']}", headers=auth_header(unique("other_firm")))
    assert (response.status_code, error_code(response)) == (404, "not_found")


# --- GET /v1/bills?state= ----------------------------------------------------------------------------------


async def test_listing_bills_by_state(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    kept = await world.issue_bill(firm, amount=100)
    voided = await world.issue_bill(firm, amount=200)
    await client.post(f"/v1/bills/{voided['bill_id']}/void", headers=auth_header(firm))
    await world.issue_bill(unique("other_firm"))

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/bills{query}", headers=auth_header(firm))
        assert response.status_code == 200, response.text
        return [item["bill_id"] for item in response.json()["items"]]

    assert await ids("?state=unpaid") == [kept["bill_id"]]
    assert await ids("?state=void") == [voided["bill_id"]]
    assert await ids("?state=paid") == []
    assert sorted(await ids("")) == sorted([kept["bill_id"], voided["bill_id"]])
    assert await ids("?limit=1") == [voided["bill_id"]]  # newest first


@pytest.mark.parametrize("query", ["?state=open", "?limit=0", "?limit=501"])
async def test_listing_with_a_bad_filter_is_422(client, firm, query) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/v1/bills{query}", headers=auth_header(firm))
    assert (response.status_code, error_code(response)) == (422, "validation_error")


# --- POST /v1/bills/{id}/void ------------------------------------------------------------------------------


async def test_voiding_an_unpaid_bill(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        response = await client.post(f"/v1/bills/{bill['bill_id']}/void", headers=auth_header(firm))
        [record] = await billing_events.wait_for(lambda r: header(r, "ce_subject") == bill["bill_id"])
    assert response.status_code == 200
    # no link-service here to say it applied the void (test_void_links.py has one that does)
    assert response.json() == {"bill_id": bill["bill_id"], "state": "void", "links_closed": False}
    assert header(record, "ce_type") == "BillVoided"
    assert (await world.bill(firm, bill["bill_id"]))["state"] == "void"


async def test_voiding_twice_records_one_bill_voided(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm)
    for _ in range(2):
        response = await client.post(f"/v1/bills/{bill['bill_id']}/void", headers=auth_header(firm))
        assert response.json()["state"] == "void"
    types = await world.runtime.pool.fetch(
        "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version", bill["bill_id"]
    )
    assert [t["event_type"] for t in types] == ["BillIssued", "BillVoided"]


async def test_voiding_an_unknown_or_another_firms_bill_is_404(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm)
    for bill_id, caller in ((unique("bill"), firm), (bill["bill_id"], unique("other_firm"))):
        response = await client.post(f"/v1/bills/{bill_id}/void", headers=auth_header(caller))
        assert (response.status_code, error_code(response)) == (404, "not_found")
    assert (await world.bill(firm, bill["bill_id"]))["state"] == "unpaid"


@pytest.mark.parametrize(("paid", "state"), [(4_000, "partially_paid"), (10_000, "paid")])
async def test_voiding_a_bill_with_payments_is_409(world, client, firm, paid, state) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=10_000)
    await world.publish(world.processed(firm, bill["bill_id"], paid))
    await world.bill_in_state(firm, bill["bill_id"], state)
    response = await client.post(f"/v1/bills/{bill['bill_id']}/void", headers=auth_header(firm))
    assert (response.status_code, error_code(response)) == (409, "bill_has_payments")
    assert (await world.bill(firm, bill["bill_id"]))["state"] == state
