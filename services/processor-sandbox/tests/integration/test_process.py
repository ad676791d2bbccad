"""The sandbox as a real process (`paylinks-processor-sandbox`): a crash and restart lose nothing, and no
card number, CVC or bank account number reaches its tables or its logs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from paylinks_runtime.testing import DATABASE_URL, drop_schema
from processor_sandbox.testing import (
    TEST_ROUTING_NUMBER,
    Sandbox,
    SandboxProcess,
    WebhookRecorder,
    sandbox_settings,
)

CARD_NUMBERS = ["4242424242424242", "4000000000000002", "4000000000000259", "5555555555554444"]
ACCOUNT_NUMBERS = ["000123456789", "000111111113", "000222222227"]
CVC = "987"


@pytest.fixture
def process(receiver: WebhookRecorder, tmp_path: Path) -> Iterator[SandboxProcess]:
    # A kill can land between the receiver's answer and the sandbox's record of it: that delivery stays
    # claimed until its lease ends. A short lease (beyond the local receiver's answer) keeps the restart
    # tests at seconds, not the default 30 s, on either side of that moment.
    settings = sandbox_settings(
        receiver.url,
        log_level="DEBUG",
        sandbox_card_settle_seconds=1.0,
        sandbox_webhook_timeout_seconds=2.0,
        sandbox_webhook_lease_seconds=4.0,
    )
    process = SandboxProcess(settings, log_path=tmp_path / "sandbox.log")
    try:
        yield process
    finally:
        process.stop()  # a test that failed half-way may have left it running


@pytest.fixture
async def client(process: SandboxProcess) -> AsyncIterator[Sandbox]:
    await asyncio.to_thread(process.start)
    async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as http:
        yield Sandbox(process.base_url, process.settings, http)
    await asyncio.to_thread(process.stop)
    await drop_schema(process.settings.db_schema)


async def restart(process: SandboxProcess) -> None:
    await asyncio.to_thread(process.kill)  # SIGKILL: a crash
    await asyncio.to_thread(process.start)


async def test_a_crash_loses_no_settlement_and_no_idempotency_key(
    process: SandboxProcess, client: Sandbox, receiver: WebhookRecorder
) -> None:
    token = await client.tokenize_card()
    payment_id = str(uuid.uuid4())
    first = await client.charge(token, payment_id=payment_id)
    assert first.status_code == 201
    await restart(process)  # before the settlement was due
    [event] = await receiver.wait_for("payment.succeeded", payment_id, timeout=30)
    replay = await client.charge(token, payment_id=payment_id)  # the same key and body
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert len(await client.charges(payment_id)) == 1
    assert event["data"]["payment_id"] == payment_id


async def test_webhook_delivery_resumes_after_a_restart(
    process: SandboxProcess, client: Sandbox, receiver: WebhookRecorder
) -> None:
    receiver.down = True
    try:
        payment_id = str(uuid.uuid4())
        assert (await client.charge(await client.tokenize_card(), payment_id=payment_id)).status_code == 201
        refused_before = receiver.refused
        await asyncio.wait_for(_until(lambda: receiver.refused > refused_before), timeout=30)
        await asyncio.to_thread(process.kill)
    finally:
        receiver.down = False
    await asyncio.to_thread(process.start)
    await receiver.wait_for("payment.succeeded", payment_id, timeout=30)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.05)


async def test_no_card_or_bank_number_reaches_the_tables_or_the_logs(
    process: SandboxProcess, client: Sandbox, receiver: WebhookRecorder
) -> None:
    payment_ids = []
    for number in CARD_NUMBERS:
        token = await client.tokenize_card(number, cvc=CVC)
        payment_id = str(uuid.uuid4())
        await client.charge(token, payment_id=payment_id)
        payment_ids.append(payment_id)
    for account in ACCOUNT_NUMBERS:
        payment_id = str(uuid.uuid4())
        await client.charge(await client.tokenize_bank(account), payment_id=payment_id)
        payment_ids.append(payment_id)
    await _refused_attempts(client)
    await receiver.wait_for("dispute.closed", payment_ids[2], timeout=30)
    await receiver.wait_for("payment.returned", payment_ids[-1], timeout=30)
    await client.pay_out()

    secrets = [*CARD_NUMBERS, *ACCOUNT_NUMBERS, TEST_ROUTING_NUMBER, "4242 4242 4242 4242"]
    tables = await _dump(process.settings.db_schema)
    logs = process.logs()
    assert logs.count("\n") > 5  # the scan has something to scan: the process logged
    for text, where in ((tables, "tables"), (logs, "logs")):
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{leaked} in the sandbox's {where}"
        assert f'"{CVC}"' not in text, f"a CVC in the sandbox's {where}"
        assert "cvc" not in text.lower(), f"a CVC field in the sandbox's {where}"
    assert not await _columns_named_like_card_data(process.settings.db_schema)


async def _refused_attempts(client: Sandbox) -> None:
    """Bad input that carries real-looking numbers: refused, and still never kept nor logged."""
    cases = [
        {
            "type": "card",
            "card": {"number": "4242424242424241", "exp_month": 12, "exp_year": 2099, "cvc": CVC},
        },
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 13, "exp_year": 2099, "cvc": CVC},
        },
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": "x", "cvc": CVC}},
        {"type": "card", "card": {"number": 4242424242424242, "exp_month": 1, "exp_year": 2099, "cvc": CVC}},
        {
            "type": "us_bank_account",
            "us_bank_account": {
                "routing_number": "110000001",
                "account_number": "000123456789",
                "account_holder_name": "Dana",
            },
        },
    ]
    for body in cases:
        response = await client.http.post("/v1/payment_methods", json=body, headers=client.publishable)
        assert response.status_code == 422, response.text
        assert "4242424242424242" not in response.text
        assert CVC not in response.text


async def _dump(schema: str) -> str:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        rows = []
        for table in tables:
            rows += await conn.fetch(f'SELECT t::text AS row FROM "{schema}"."{table["table_name"]}" t')  # noqa: S608
        return "\n".join(r["row"] for r in rows)
    finally:
        await conn.close()


async def _columns_named_like_card_data(schema: str) -> list[str]:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        rows = await conn.fetch(
            "SELECT table_name || '.' || column_name AS name FROM information_schema.columns"
            " WHERE table_schema = $1 AND (column_name ~ '(cvc|cvv|number|pan|routing)')",
            schema,
        )
        return [r["name"] for r in rows]
    finally:
        await conn.close()
