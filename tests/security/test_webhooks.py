"""The processor's webhook: a bad signature, an old or future timestamp is 400 and changes nothing; the same
webhook id again is acknowledged and changes nothing; signed garbage is never a 5xx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from paylinks_events import Topic
from paylinks_runtime.testing import eventually, header

from .firm import Firm, echeck, payment_body
from .hostile import FUZZ_DICTIONARY, HYPOTHESIS_IN_A_BUSY_PROCESS, leaked_internals
from .system import System

pytestmark = HYPOTHESIS_IN_A_BUSY_PROCESS
PATH = "/v1/processor/webhooks"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """CONTRACT.md: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def report(webhook_id: str, payment_id: str, kind: str = "payment.succeeded") -> bytes:
    return json.dumps({"id": webhook_id, "type": kind, "data": {"payment_id": payment_id}}).encode()


def forged_deliveries(secret: str, payment_id: str) -> dict[str, tuple[bytes, dict[str, str]]]:
    now = int(time.time())
    body = report("wh-forged", payment_id)
    failed = report("wh-forged", payment_id, "payment.failed")
    digest = signature(secret, now, body).split("v1=")[1]
    return {
        "no signature": (body, {}),
        "wrong secret": (body, {"Processor-Signature": signature("not-the-secret", now, body)}),
        "signed for another body": (failed, {"Processor-Signature": signature(secret, now, body)}),
        "one byte more": (body + b" ", {"Processor-Signature": signature(secret, now, body)}),
        "older than 300 s": (body, {"Processor-Signature": signature(secret, now - 301, body)}),
        # Ahead by a margin: the request reaches the server a moment after `now` was taken.
        "more than 300 s ahead": (body, {"Processor-Signature": signature(secret, now + 310, body)}),
        "no timestamp": (body, {"Processor-Signature": f"v1={digest}"}),
        "timestamp not a number": (body, {"Processor-Signature": f"t=now,v1={digest}"}),
        "other scheme only": (body, {"Processor-Signature": f"t={now},v0={digest}"}),
        "empty v1": (body, {"Processor-Signature": f"t={now},v1="}),
    }


async def settled_on_kafka(system: System, firm: Firm, payment_id: str) -> list[str]:
    """Types of the payment's settlement events on Kafka, once everything recorded so far is published."""
    await eventually(system.link.outbox_empty)
    records = await system.kafka.of_firms(firm.id)
    return [
        header(r, "ce_type") or ""
        for r in records
        if r.topic == Topic.PAYMENT
        and json.loads(r.value).get("payment_id") == payment_id
        and header(r, "ce_type") != "PaymentReceived"
    ]


async def webhook_rows(system: System, *ids: str) -> int:
    query = "SELECT count(*) FROM processor_webhooks WHERE webhook_id = ANY($1::text[])"
    return int(await system.link.fetchval(query, list(ids)))


async def test_forged_and_stale_webhooks_are_400_and_change_nothing(system: System, firm: Firm) -> None:
    # Protection: paylinks_runtime.webhook_signature.verify on the raw body (HMAC, 300 s window), checked
    # before the body is even parsed.
    secret = system.link.settings.webhook_secret  # type: ignore[attr-defined]
    payment_id = await firm.paid(await firm.account_token(), payment_body(2_000, **echeck()))
    events_before = await system.link.events_of(firm.id)
    for what in forged_deliveries(secret, payment_id):
        body, headers = forged_deliveries(secret, payment_id)[what]  # signed just before it is sent
        response = await firm.link.post(PATH, content=body, headers=headers)
        assert response.status_code == 400, (what, response.text)
        assert response.json()["error"]["code"] == "bad_signature", what
    assert await system.link.events_of(firm.id) == events_before
    assert await webhook_rows(system, "wh-forged") == 0
    assert await settled_on_kafka(system, firm, payment_id) == []
    assert (await firm.payment_in(payment_id, "pending"))["status"] == "pending"


async def test_a_replayed_webhook_id_is_acknowledged_and_has_no_second_effect(
    system: System, firm: Firm
) -> None:
    # Protection: processor_webhooks (the webhook id is applied once), and a settled payment stays settled.
    secret = system.link.settings.webhook_secret  # type: ignore[attr-defined]
    payment_id = await firm.paid(await firm.account_token(), payment_body(2_000, **echeck()))
    body = report("wh-" + payment_id, payment_id)
    signed = {"Processor-Signature": signature(secret, int(time.time()), body)}
    first = await firm.link.post(PATH, content=body, headers=signed)
    assert (first.status_code, first.json()) == (200, {"result": "applied"})
    events_after_first = await system.link.events_of(firm.id)
    replays = [
        (body, signed),  # the very same delivery again
        (failed := report("wh-" + payment_id, payment_id, "payment.failed"), _fresh(secret, failed)),
    ]
    for replay_body, headers in replays:
        again = await firm.link.post(PATH, content=replay_body, headers=headers)
        assert (again.status_code, again.json()) == (200, {"result": "ignored"})
    assert await system.link.events_of(firm.id) == events_after_first
    assert await settled_on_kafka(system, firm, payment_id) == ["PaymentProcessed"]
    assert (await firm.payment_in(payment_id, "ready", "failed"))["status"] == "ready"


def _fresh(secret: str, body: bytes) -> dict[str, str]:
    return {"Processor-Signature": signature(secret, int(time.time()), body)}


async def test_signed_garbage_is_never_a_server_error(system: System, firm: Firm) -> None:
    # Protection: webhook body validation (400 bad_webhook); unknown payments are ignored (200).
    secret = system.link.settings.webhook_secret  # type: ignore[attr-defined]
    payment_id = await firm.paid(await firm.account_token(), payment_body(2_000, **echeck()))
    failures = await asyncio.to_thread(_fuzz_signed_bodies, system.link.url + PATH, secret, payment_id)
    assert not failures, "\n".join(failures)


_TEXT = st.one_of(st.sampled_from(FUZZ_DICTIONARY), st.text(max_size=50).filter(lambda t: "\x00" not in t))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)


def _bodies(payment_id: str) -> st.SearchStrategy[Any]:
    webhook = st.fixed_dictionaries(
        {
            "id": _TEXT,
            "type": st.sampled_from(["payment.succeeded", "payment.failed"]) | _TEXT,
            "data": st.fixed_dictionaries(
                {"payment_id": st.just(payment_id) | _TEXT}, optional={"reason": _TEXT | _JSON}
            )
            | _JSON,
        }
    )
    return webhook | _JSON


def _fuzz_signed_bodies(url: str, secret: str, payment_id: str) -> list[str]:
    failures: list[str] = []
    session = requests.Session()

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(body=_bodies(payment_id))
    def run(body: Any) -> None:
        raw = json.dumps(body).encode()
        response = session.post(url, data=raw, headers=_fresh(secret, raw), timeout=30)
        if response.status_code >= 500 or leaked_internals(response.text):
            failures.append(f"{response.status_code} {response.text[:200]} for {raw[:300]!r}")
        elif response.status_code not in (200, 400, 404, 409) and not (
            response.status_code == 422 and b"\\u0000" in raw
        ):
            failures.append(f"unexpected {response.status_code} for {raw[:300]!r}")

    try:
        run()
    finally:
        session.close()
    return failures
