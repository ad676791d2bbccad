"""After a scripted run with the test cards and accounts (tokenized at the sandbox processor, paid through the
JSON API, and raw card bodies refused), no table of the service or of the sandbox processor, no captured log
line, no line of the processor process's own log, no span and no Kafka record holds a card number, CVC or
bank account/routing number, and nothing holds a link token or what rebuilds one."""

from __future__ import annotations

import base64
import logging
from typing import Any

import asyncpg
from opentelemetry.sdk.trace import ReadableSpan

from link_service.tokens import LinkTokens
from paylinks_events import Topic
from paylinks_runtime.http_middleware import MAX_BODY_BYTES
from paylinks_runtime.testing import CARD_EXPIRY_YEAR, DATABASE_URL, TopicWatcher, header

from .conftest import DECLINED_CARD, OK_ACCOUNT, OK_CARD, R01_ACCOUNT, ROUTING, card_payment

CVC = "739"
SECRETS = (OK_CARD, DECLINED_CARD, OK_ACCOUNT, R01_ACCOUNT, ROUTING, f'"{CVC}"', f"={CVC}", "cvc")


async def scripted_run(service) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    firm, _, token = await service.new_account_token()
    for number in (OK_CARD, DECLINED_CARD):
        await service.pay(token, card_payment(1_000, await service.sandbox.tokenize_card(number, cvc=CVC)))
        raw = card_payment(
            1_000, "pm_x", card={"number": number, "exp_month": 12, "exp_year": CARD_EXPIRY_YEAR, "cvc": CVC}
        )
        assert (await service.pay(token, raw)).status_code == 422
    await service.pay(token, await service.echeck_payment(2_000, account=OK_ACCOUNT))
    await service.pay(token, await service.echeck_payment(2_000, account=R01_ACCOUNT))
    return firm, token


async def schema_dump(schema: str) -> str:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        lines = []
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table["table_name"]}"'):  # noqa: S608
                lines.append(" | ".join(_text(value) for value in row.values()))
        return "\n".join(lines)
    finally:
        await conn.close()


def span_text(span: ReadableSpan) -> str:
    """What a trace backend would keep of a span: its name, attributes and events."""
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    return f"{span.name} {dict(span.attributes or {})} {events}"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") + " " + value.hex()
    return str(value)


async def test_no_card_or_bank_number_anywhere_after_a_scripted_run(service, caplog, capfd, spans) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the TEST client's request lines carry the token
    async with TopicWatcher(Topic.PAYMENT) as payments, TopicWatcher(Topic.LINK) as links:
        firm, token = await scripted_run(service)
        ours = await payments.wait_for(
            lambda r: header(r, "ce_firmid") == firm, count=6
        )  # 3 received, 3 outcomes
        ours += await links.wait_for(lambda r: header(r, "ce_firmid") == firm, count=2)
    kafka = "\n".join(f"{r.key!r} {r.value!r} {r.headers!r}" for r in ours)
    dump = await schema_dump(service.settings.db_schema)
    captured = capfd.readouterr()
    logs = "\n".join([caplog.text, captured.out, captured.err])
    traced = "\n".join(span_text(span) for span in spans.get_finished_spans())
    assert "/v1/pay/" in traced  # the pay requests' server spans were read
    assert "4242" in kafka
    assert "payment_id" in dump
    for secret in SECRETS:
        assert secret not in kafka, secret
        assert secret not in dump, secret
        assert secret not in logs, secret
        assert secret not in traced, secret
    # Contract v2: no record, log line (the producer's DEBUG dumps included) or table holds a live token.
    assert not [r.getMessage() for r in caplog.records if token in r.getMessage()]
    assert token not in captured.out + captured.err
    assert token not in dump
    assert token not in kafka
    assert token not in traced  # the server span's URL attributes carry the path with the token redacted
    # Nor what rebuilds it: the link's seed (token = HMAC(key, seed)) stays in its row, unpublished, unlogged.
    seed = await link_seed(service.settings.db_schema, token)
    for form in seed_forms(seed):
        assert form not in kafka, form
        assert form not in logs, form
        assert form not in traced, form
    # The processor's side, the one the numbers are sent to: its tables and its own log lines keep none.
    assert service.sandbox.log_path is not None
    processor_logs = service.sandbox.log_path.read_text()
    processor_dump = await schema_dump(service.sandbox.settings.db_schema)
    assert '"charge taken"' in processor_logs  # the process's lines were read
    assert "4242" in processor_dump  # the last four, and nothing more of the number
    for secret in SECRETS:
        assert secret not in processor_logs, secret
        assert secret not in processor_dump, secret


async def link_seed(schema: str, token: str) -> bytes:
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": schema})
    try:
        seed: bytes = await conn.fetchval(
            "SELECT token_seed FROM links WHERE token_hash = $1", LinkTokens.lookup_hash(token)
        )
    finally:
        await conn.close()
    assert seed, "the link's seed was not found"
    return seed


def seed_forms(seed: bytes) -> list[str]:
    """The ways a seed would be written into a record or a log line."""
    return [
        seed.hex(),
        base64.b64encode(seed).decode().rstrip("="),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
        repr(seed)[2:-1],
    ]


async def test_a_pay_request_refused_before_any_route_leaves_no_token_in_its_span(service, spans) -> None:
    """Refused by the middleware (a NUL character, a body over the limit), a request never reaches the pay
    routes: its server span's URL attributes are redacted all the same."""
    _, _, token = await service.new_account_token()
    path = f"/v1/pay/{token}/payments"
    headers = {"Content-Type": "application/json"}
    nul = await service.client.post(path, content=b'{"reference": "\\u0000"}', headers=headers)
    too_big = await service.client.post(path, content=b" " * (MAX_BODY_BYTES + 1), headers=headers)
    assert (nul.status_code, too_big.status_code) == (422, 413)
    refused = [span_text(s) for s in spans.get_finished_spans() if "/v1/pay/" in span_text(s)]
    assert len(refused) >= 2  # both requests' server spans were read
    assert not [text for text in refused if token in text]
