"""A NUL character (U+0000) in any text a client sends: refused as invalid input (400/422), never a 500.

PostgreSQL text and jsonb cannot hold U+0000, so a NUL that reaches a query fails it. Each entry point
below is one distinct way in (path, query, JSON body, form, signed webhook); the fuzzer sends NUL too
(hostile.FUZZ_WITH_NUL)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from .firm import Firm, History, payment_body
from .hostile import leaked_internals
from .system import System
from .test_webhooks import signature

NUL = "a\x00b"
NUL_IN_PATH = "a%00b"

Call = Callable[[Firm, History, System], Awaitable[httpx.Response]]


def _pay(**changes: Any) -> Call:
    async def call(firm: Firm, history: History, _: System) -> httpx.Response:
        return await firm.pay(history.token, payment_body(1_000, **changes))

    return call


async def _webhook(firm: Firm, _: History, system: System) -> httpx.Response:
    body = json.dumps({"id": "wh-nul", "type": "payment.succeeded", "data": {"payment_id": NUL}}).encode()
    secret = system.link.settings.webhook_secret  # type: ignore[attr-defined]
    headers = {"Processor-Signature": signature(secret, int(time.time()), body)}
    return await firm.link.post("/v1/processor/webhooks", content=body, headers=headers)


def _request(service: str, method: str, path: str, role: str = "staff", **kwargs: Any) -> Call:
    """A staff request; `{bill_id}`, `{payment_id}`... in the path and `$matter_id`-style values in a JSON
    body are the firm's real ids, so that the NUL is the only thing wrong with it."""

    async def call(firm: Firm, history: History, _: System) -> httpx.Response:
        ids = history.ids
        body = kwargs.get("json")
        if isinstance(body, dict):
            kwargs["json"] = {k: ids[v[1:]] if str(v).startswith("$") else v for k, v in body.items()}
        headers = firm.admin if role == "admin" else firm.staff
        return await firm.clients[service].request(method, path.format(**ids), headers=headers, **kwargs)

    return call


ENTRY_POINTS: dict[str, Call] = {
    "link: bank account name": _request(
        "link-service", "POST", "/v1/bank-accounts", "admin", json={"name": NUL, "kind": "trust"}
    ),
    "link: account id in the path": _request(
        "link-service", "POST", f"/v1/bank-accounts/{NUL_IN_PATH}/payment-link"
    ),
    "link: account id of a QR code": _request(
        "link-service", "GET", f"/v1/bank-accounts/{NUL_IN_PATH}/qr-code"
    ),
    "link: bill id in the path": _request(
        "link-service",
        "POST",
        f"/v1/bills/{NUL_IN_PATH}/payment-link",
        json={"bank_account_id": "$bank_account_id"},
    ),
    "link: payer name": _pay(name=NUL),
    "link: payment reference": _pay(reference=NUL),
    "link: payment id of a signed webhook": _webhook,
    "billing: matter id": _request(
        "billing-service",
        "POST",
        "/v1/bills",
        json={"matter_id": NUL, "contact_id": "$contact_id", "amount": 100},
    ),
    "billing: bill number": _request(
        "billing-service",
        "POST",
        "/v1/bills",
        json={"matter_id": "$matter_id", "contact_id": "$contact_id", "amount": 100, "bill_number": NUL},
    ),
    "billing: bill id in the path": _request("billing-service", "GET", f"/v1/bills/{NUL_IN_PATH}"),
    "billing: voiding, bill id in the path": _request(
        "billing-service", "POST", f"/v1/bills/{NUL_IN_PATH}/void"
    ),
    "reconciliation: bank account filter": _request(
        "reconciliation-service", "GET", "/v1/unlinked-payments", params={"bank_account_id": NUL}
    ),
    "reconciliation: payment id in the path": _request(
        "reconciliation-service", "GET", f"/v1/payments/{NUL_IN_PATH}"
    ),
    "reconciliation: history, payment id in the path": _request(
        "reconciliation-service", "GET", f"/v1/payments/{NUL_IN_PATH}/history"
    ),
    "reconciliation: matter id to link to": _request(
        "reconciliation-service", "POST", "/v1/payments/{payment_id}/link", json={"matter_id": NUL}
    ),
    "reconciliation: page search": _request(
        "reconciliation-service", "GET", "/payments/{payment_id}/link", params={"q": NUL}
    ),
    "reconciliation: page, payment id in the path": _request(
        "reconciliation-service", "POST", f"/payments/{NUL_IN_PATH}/link", data={"matter_id": "m"}
    ),
    "notifier: email log filter": _request("notifier", "GET", "/v1/emails", params={"payment_id": NUL}),
    "notifier: recipients' bank account": _request(
        "notifier", "PUT", "/v1/notification-recipients", "admin", json={"emails": [], "bank_account_id": NUL}
    ),
}


@pytest.fixture(scope="module")
async def history(system: System, producer: AIOKafkaProducer) -> AsyncIterator[tuple[Firm, History]]:
    firm = Firm(system, producer)
    yield firm, await firm.with_history()
    await firm.close()


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
async def test_a_nul_character_is_refused_as_invalid_input(
    system: System, history: tuple[Firm, History], entry: str
) -> None:
    # Protection: refusing U+0000 in request text before it reaches a query.
    firm, ids = history
    events_before = [await s.events_of(firm.id) for s in system.services.values()]
    response = await ENTRY_POINTS[entry](firm, ids, system)
    assert response.status_code in (400, 404, 422), (response.status_code, response.text[:200])
    assert not leaked_internals(response.text)
    assert [await s.events_of(firm.id) for s in system.services.values()] == events_before


async def test_text_that_only_looks_like_nul_is_taken_as_the_text_it_is(
    history: tuple[Firm, History],
) -> None:
    # Protection: the NUL guard decodes each part (path, query, JSON or form body) before it looks, so the
    # text "%00" or a backslash followed by "u0000" is ordinary text.
    firm, ids = history
    look_alike = "INV-%00-\\u0000"
    body = {
        "matter_id": ids.matter_id,
        "contact_id": ids.contact_id,
        "amount": 100,
        "bill_number": look_alike,
    }
    issued = await firm.billing.post("/v1/bills", json=body, headers=firm.staff)
    assert issued.status_code == 201, issued.text
    bill = await firm.billing.get(f"/v1/bills/{issued.json()['bill_id']}", headers=firm.staff)
    assert bill.json()["bill_number"] == look_alike
    searched = await firm.reconciliation.get(
        f"/payments/{ids.payment_id}/link", params={"q": look_alike}, headers=firm.staff
    )
    assert searched.status_code == 200, searched.text[:200]
