"""A payment is charged once whatever the crash: link-service dies (as abruptly as SIGKILL) right after the
processor took the charge and before it recorded the answer; the next process sends the charge again with
the same idempotency key, and the processor and the event store each hold exactly one.

Protection exercised: the attempt recorded before the charge, the key `payment:<payment_id>`, and the
recovery task (link-service's payment_upkeep). Without them the client's retry would be a second charge."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from paylinks_devstack.client import until

from .report import ChaosReport
from .system import ChaosSystem, crash_after_charge_env
from .workload import ACCOUNT_CARD, PlannedPayment, open_firm, pay_body, sandbox_charges

pytestmark = pytest.mark.timeout(300)


async def test_a_crash_between_the_charge_and_its_record_charges_once(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "crash-charge")
    plan = PlannedPayment(str(uuid.uuid4()), firm.firm_id, firm.account_token, ACCOUNT_CARD, 12_300)
    body = await pay_body(system, plan)
    async with system.replica("link-service", crash_after_charge_env()) as doomed:
        with pytest.raises(httpx.TransportError):  # the process died before it could answer
            await _pay(doomed, plan, body)
    chaos_report.add("faults", "link-service killed between a charge and its record")

    async def first_outcome() -> str | None:  # the client retries with the same key and body
        answer = await _pay(system.url("link-service"), plan, body)
        # 409 (or 503 pending) until the recovery has finished the payment; any other refusal is final, and
        # wrong: the processor took the charge (a charge sent again with a new key finds its token used).
        assert answer.status_code in (202, 409, 503), answer.text
        return str(answer.json()["payment_id"]) if answer.status_code == 202 else None

    payment_id = await until(first_outcome, timeout=120, what="the recovered payment")
    assert len(await sandbox_charges(system, payment_id)) == 1
    assert await _received(system, payment_id) == 1
    chaos_report.add("checked", "charges at the processor and PaymentReceived of the crashed payment", 2)


async def _pay(url: str, plan: PlannedPayment, body: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30.0) as http:
        return await http.post(
            f"{url}/v1/pay/{plan.token}/payments", json=body, headers={"Idempotency-Key": plan.key}
        )


async def _received(system: ChaosSystem, payment_id: str) -> int:
    conn = await asyncpg.connect(system.infra.database_url)
    try:
        count: int = await conn.fetchval(
            f'SELECT count(*) FROM "{system.schema("link-service")}".events'  # noqa: S608 - our schema name
            " WHERE stream_id = $1 AND event_type = 'PaymentReceived'",
            payment_id,
        )
        return count
    finally:
        await conn.close()
