"""Staff authentication and tenancy (CONTRACT.md 2): no or bad token 401, missing role 403, anything of
another firm 404 exactly like something that does not exist; nothing changes and nothing leaks."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from paylinks_runtime.auth import CLOCK_LEEWAY, issue_payment_grant
from paylinks_runtime.testing import GRANT_KEYS, JWT_SECRET, auth_header, staff_token

from .firm import Firm, History
from .hostile import leaked_internals
from .system import BILLING, LINK, NOTIFIER, RECONCILIATION, System, http_client

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

# One read per service (every staff route shares its service's auth dependency), and the staff page.
STAFF_READS = [
    (LINK, "/v1/bank-accounts"),
    (BILLING, "/v1/bills"),
    (RECONCILIATION, "/v1/unlinked-payments"),
    (NOTIFIER, "/v1/notification-recipients"),
]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _in(**delta: float) -> int:
    return int((datetime.now(UTC) + timedelta(**delta)).timestamp())


def _claims(firm: str, **changes: Any) -> dict[str, Any]:
    """Staff+admin claims of `firm`, with `changes` (None removes a claim)."""
    claims = {"sub": "mallory", "firm_id": firm, "roles": ["staff", "admin"], "exp": _in(hours=1)}
    return {k: v for k, v in (claims | changes).items() if v is not None}


def _signed(firm: str, algorithm: str = "HS256", **changes: Any) -> str:
    with warnings.catch_warnings():
        # PyJWT warns that the HS256 secret is short for HS512: the refused-algorithm case signs with the
        # right secret on purpose (the services must refuse the algorithm, not the key).
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return "Bearer " + jwt.encode(_claims(firm, **changes), JWT_SECRET, algorithm=algorithm)


def bad_authorizations(firm_id: str) -> dict[str, str | None]:
    """Authorization headers that must all be 401, each claiming staff+admin of `firm_id`."""
    good = staff_token(firm_id, roles=("staff", "admin"))
    head, body, signature = good.split(".")
    return {
        "no header": None,
        "basic scheme": "Basic " + base64.b64encode(b"admin:admin").decode(),
        "bearer without a token": "Bearer",
        "garbage": "Bearer not-a-jwt",
        "expired": "Bearer "
        + staff_token(firm_id, roles=("staff", "admin"), ttl=-(CLOCK_LEEWAY + timedelta(minutes=1))),
        "wrong secret": "Bearer "
        + staff_token(firm_id, roles=("staff", "admin"), secret="guessed-secret" * 3),
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(firm_id))}.",
        "alg none, signature kept": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{body}.{signature}",
        "HS512 with the right secret": _signed(firm_id, "HS512"),
        "claims swapped under a valid signature": f"Bearer {head}.{_b64(_claims(firm_id + 'x'))}.{signature}",
        "signature flipped": f"Bearer {good[:-2]}{'A' if good[-2] != 'A' else 'B'}{good[-1]}",
        "no exp": _signed(firm_id, exp=None),
        "lives 13 hours": _signed(firm_id, iat=_in(hours=-1), exp=_in(hours=12)),
        "no iat, 13 hours left": _signed(firm_id, exp=_in(hours=13)),
        "signed with the grant key": "Bearer " + jwt.encode(_claims(firm_id), GRANT_KEYS.signing),
        "no sub": _signed(firm_id, sub=None),
        "no firm": _signed(firm_id, firm_id=None),
        "empty firm": _signed(firm_id, firm_id=""),
        "roles not a list": _signed(firm_id, roles="admin"),
    }


def assert_refused(response: httpx.Response, status: int, code: str, *secrets: str) -> None:
    """The contract's error, and nothing else: no internals, no token, no other firm's data."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"].endswith(code), body  # e.g. "payment_not_found" for "not_found"
    assert not leaked_internals(response.text), response.text
    for secret in (JWT_SECRET, *secrets):
        assert not secret or secret not in response.text


def headers_for(authorization: str | None) -> dict[str, str]:
    return {} if authorization is None else {"Authorization": authorization}


@pytest.fixture(scope="module")
async def victim(system: System, producer: Any) -> AsyncIterator[tuple[Firm, History]]:
    firm = Firm(system, producer)
    await firm.receive_emails()
    yield firm, await firm.with_history()
    await firm.close()


async def test_bad_tokens_are_401_on_every_service_and_write_nothing(
    system: System, new_firm: Callable[[], Firm]
) -> None:
    # Protection: paylinks_runtime.auth.decode_token (HS256 only, signature, exp/sub required, firm_id and
    # roles checked) behind every staff route.
    forged_firm = new_firm()
    for what, authorization in bad_authorizations(forged_firm.id).items():
        headers = headers_for(authorization)
        for service, path in STAFF_READS:
            response = await forged_firm.clients[service].get(path, headers=headers)
            assert_refused(response, 401, "unauthorized", authorization or "")
            assert response.headers["WWW-Authenticate"] == "Bearer", (what, service)
        created = await forged_firm.link.post(
            "/v1/bank-accounts", json={"name": "Mallory", "kind": "trust"}, headers=headers
        )
        assert_refused(created, 401, "unauthorized")
        emails = {"emails": ["mallory@evil.example"]}
        routed = await forged_firm.notifier.put("/v1/notification-recipients", json=emails, headers=headers)
        assert_refused(routed, 401, "unauthorized")
    assert await system.link.events_of(forged_firm.id) == 0
    recipients = "SELECT count(*) FROM notification_recipients WHERE firm_id = $1"
    assert await system.notifier.fetchval(recipients, forged_firm.id) == 0


async def test_bad_tokens_and_grants_do_not_open_the_staff_page(victim: tuple[Firm, History]) -> None:
    # Protection: reconciliation page._authenticate (Bearer or this payment's grant cookie, nothing else).
    firm, history = victim
    page = f"/payments/{history.payment_id}/link"
    for what, authorization in bad_authorizations(firm.id).items():
        response = await firm.reconciliation.get(page, headers=headers_for(authorization))
        assert response.status_code == 401, what
        assert "Link to a client" not in response.text, what
        assert history.payment_id not in response.text, what
    grant_of = {"firm_id": firm.id, "recipient": f"office@{firm.id}.example"}
    other_payment = issue_payment_grant(GRANT_KEYS, payment_id=str(uuid.uuid4()), **grant_of)
    expired = issue_payment_grant(
        GRANT_KEYS, payment_id=history.payment_id, ttl=-(CLOCK_LEEWAY + timedelta(minutes=1)), **grant_of
    )
    too_long = issue_payment_grant(
        GRANT_KEYS, payment_id=history.payment_id, ttl=timedelta(hours=73), **grant_of
    )
    claims = jwt.decode(other_payment, GRANT_KEYS.signing, algorithms=["HS256"])
    signed_with_the_staff_key = jwt.encode(claims | {"payment_id": history.payment_id}, JWT_SECRET)
    a_staff_token = staff_token(firm.id)
    for grant in (other_payment, expired, too_long, signed_with_the_staff_key, a_staff_token):
        async with http_client(str(firm.reconciliation.base_url)) as browser:
            exchanged = await browser.get(page, params={"grant": grant})
            assert exchanged.status_code == 401
            assert "set-cookie" not in exchanged.headers
            browser.cookies.set("payment_link_grant", grant)
            assert (await browser.get(page)).status_code == 401


async def test_a_missing_role_is_403_and_changes_nothing(system: System, firm: Firm) -> None:
    # Protection: require_role("admin") on the admin writes, require_role("staff") everywhere else.
    staff_only = firm.staff
    created = await firm.link.post(
        "/v1/bank-accounts", json={"name": "X", "kind": "trust"}, headers=staff_only
    )
    assert_refused(created, 403, "forbidden")
    routed = await firm.notifier.put("/v1/notification-recipients", json={"emails": []}, headers=staff_only)
    assert_refused(routed, 403, "forbidden")
    assert await system.link.events_of(firm.id) == 0
    no_roles = auth_header(firm.id, roles=())
    for service, path in STAFF_READS:
        assert_refused(await firm.clients[service].get(path, headers=no_roles), 403, "forbidden")
    # The email's grant is signed with a key of its own: never a staff token.
    grant = issue_payment_grant(GRANT_KEYS, firm_id=firm.id, payment_id="p", recipient="a@b.example")
    for service, path in STAFF_READS:
        response = await firm.clients[service].get(path, headers={"Authorization": f"Bearer {grant}"})
        assert_refused(response, 401, "unauthorized")


async def test_another_firms_things_are_404_exactly_like_things_that_do_not_exist(
    system: System, victim: tuple[Firm, History], new_firm: Callable[[], Firm]
) -> None:
    # Protection: every query and command is scoped by the caller's firm_id (never by the id alone).
    owner, history = victim
    intruder = new_firm()
    own_account = await intruder.register_account()
    contact_id, matter_id = await intruder.open_matter()
    before = await _owner_state(system, owner, history)
    theirs = await _try_everything(intruder, history.ids, own_account, matter_id)
    nobodys = await _try_everything(
        intruder, {k: str(uuid.uuid4()) for k in history.ids}, own_account, matter_id
    )
    for what, response in theirs.items():
        assert_refused(response, 404, "not_found", owner.id, history.payment_id, history.bill_id)
        assert response.text == nobodys[what].text, what  # no existence oracle
    assert await _owner_state(system, owner, history) == before
    page = await intruder.reconciliation.get(f"/payments/{history.payment_id}/link", headers=intruder.staff)
    assert page.status_code == 404
    assert "Dana Client" not in page.text
    assert "10.00" not in page.text
    assert contact_id  # the intruder's own client and matter exist: what failed was the payment


async def _try_everything(
    intruder: Firm, ids: dict[str, str], own_account: str, matter_id: str
) -> dict[str, httpx.Response]:
    staff, admin = intruder.staff, intruder.admin
    account, bill, payment = ids["bank_account_id"], ids["bill_id"], ids["payment_id"]
    return {
        "account link": await intruder.link.post(f"/v1/bank-accounts/{account}/payment-link", headers=staff),
        "qr code": await intruder.link.get(f"/v1/bank-accounts/{account}/qr-code", headers=staff),
        "bill link": await intruder.link.post(
            f"/v1/bills/{bill}/payment-link", json={"bank_account_id": own_account}, headers=staff
        ),
        "bill": await intruder.billing.get(f"/v1/bills/{bill}", headers=staff),
        "void": await intruder.billing.post(f"/v1/bills/{bill}/void", headers=staff),
        "payment": await intruder.reconciliation.get(f"/v1/payments/{payment}", headers=staff),
        "history": await intruder.reconciliation.get(f"/v1/payments/{payment}/history", headers=staff),
        "link": await intruder.reconciliation.post(
            f"/v1/payments/{payment}/link", json={"matter_id": matter_id}, headers=staff
        ),
        "unlink": await intruder.reconciliation.request(
            "DELETE", f"/v1/payments/{payment}/link", json={"reason": "mine now"}, headers=staff
        ),
        "recipients": await intruder.notifier.put(
            "/v1/notification-recipients",
            json={"emails": ["mallory@evil.example"], "bank_account_id": account},
            headers=admin,
        ),
    }


async def _owner_state(system: System, owner: Firm, history: History) -> tuple[Any, ...]:
    bill = await owner.billing.get(f"/v1/bills/{history.bill_id}", headers=owner.staff)
    payment = await owner.payment(history.payment_id) or {}
    link_state = {key: payment.get(key) for key in ("status", "contact_id", "matter_id")}
    recipients = await owner.notifier.get("/v1/notification-recipients", headers=owner.staff)
    events = [await service.events_of(owner.id) for service in system.services.values()]
    return bill.json(), link_state, recipients.json(), events


async def test_lists_and_email_logs_show_only_the_callers_firm(
    victim: tuple[Firm, History], new_firm: Callable[[], Firm]
) -> None:
    # Protection: firm-scoped list queries (WHERE firm_id = caller's firm).
    owner, history = victim
    intruder = new_firm()
    reads = {
        "accounts": await intruder.link.get("/v1/bank-accounts", headers=intruder.staff),
        "bills": await intruder.billing.get("/v1/bills", headers=intruder.staff),
        "unlinked": await intruder.reconciliation.get("/v1/unlinked-payments", headers=intruder.staff),
        "totals": await intruder.reconciliation.get("/v1/unlinked-payments/totals", headers=intruder.staff),
        "recipients": await intruder.notifier.get("/v1/notification-recipients", headers=intruder.staff),
        "emails": await intruder.notifier.get(
            "/v1/emails", params={"payment_id": history.payment_id}, headers=intruder.staff
        ),
    }
    for what, response in reads.items():
        assert response.status_code == 200, what
        assert response.json()["items"] == [], what
    mine = await owner.notifier.get(
        "/v1/emails", params={"payment_id": history.payment_id}, headers=owner.staff
    )
    assert mine.json()["items"], "the owner does have emails of that payment"
