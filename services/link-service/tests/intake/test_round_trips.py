"""What one payment costs Postgres, counted on the wire (not timed): the pay API's token lookup and the
intake's two writes, on a pool released the way the service releases it. Issue #21 goal 3: at most 6 round
trips; here 3, each a statement in a transaction of its own: the lookup (a read), the attempt, the answer.
And its settlement's webhook: 2 more, the same way."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import cast

import asyncpg
import httpx
import pytest

from link_service.api.context import LinkServiceParts
from link_service.app import MIGRATIONS, create_app
from link_service.config import Settings
from link_service.processor.fake import FakeProcessor
from link_service.tokens import LinkTokens
from paylinks_runtime import webhook_signature
from paylinks_runtime.db import create_pool, migrate
from paylinks_runtime.postgres_wire import CountingProxy, WireCount, counting_proxy
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.testing import DATABASE_URL, drop_schema, unique
from paylinks_runtime.unit_of_work import Writer

from .conftest import card

FIRM = "firm-wire"


@pytest.fixture
async def proxy() -> AsyncIterator[CountingProxy]:
    async with counting_proxy(DATABASE_URL) as proxy:
        yield proxy


@pytest.fixture
async def parts(proxy: CountingProxy) -> AsyncIterator[LinkServiceParts]:
    schema = unique("t_wire")
    pool = await create_pool(proxy.database_url, schema, reset_sessions=False)  # as ServiceRuntime does
    try:
        await migrate(pool, MIGRATIONS)
        runtime = cast(ServiceRuntime, SimpleNamespace(pool=pool, writer=Writer(pool, "/link-service-test")))
        yield LinkServiceParts(Settings(db_schema=schema), runtime, FakeProcessor())
    finally:
        await pool.close()
        await drop_schema(schema)


async def bill_link(pool: asyncpg.Pool, tokens: LinkTokens) -> str:
    """A bill link's token, its firm with a trust and an operating account."""
    trust, operating, bill, seed = (
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        secrets.token_bytes(32),
    )
    for account, kind in ((trust, "trust"), (operating, "operating")):
        await pool.execute(
            "INSERT INTO bank_accounts (bank_account_id, firm_id, name, kind, currency)"
            " VALUES ($1, $2, $3, $4, 'USD')",
            account,
            FIRM,
            kind,
            kind,
        )
    await pool.execute(
        "INSERT INTO bills (bill_id, firm_id, amount, balance, currency, state)"
        " VALUES ($1, $2, 10000000, 10000000, 'USD', 'open')",
        bill,
        FIRM,
    )
    token = tokens.token(seed)
    await pool.execute(
        "INSERT INTO links (link_id, firm_id, kind, bank_account_id, bill_id, token_hash, token_seed)"
        " VALUES ($1, $2, 'bill', $3, $4, $5, $6)",
        str(uuid.uuid4()),
        FIRM,
        trust,
        bill,
        LinkTokens.lookup_hash(token),
        seed,
    )
    return token


async def one_payment(
    parts: LinkServiceParts, proxy: CountingProxy, token: str, key: str | None
) -> WireCount:
    """What the pay route does with Postgres for one payment: the token lookup, then the intake."""
    processor = cast(FakeProcessor, parts.processor)
    before = proxy.count.snapshot()
    target = await parts.resolve(token)
    await parts.intake.pay(target, card(processor.card(), 1_000), key)
    return proxy.count - before


@pytest.mark.parametrize("key", [None, "with-key"])
async def test_a_payment_takes_three_round_trips_one_statement_each(
    parts: LinkServiceParts, proxy: CountingProxy, key: str | None
) -> None:
    token = await bill_link(parts.runtime.pool, parts.tokens)
    for _ in range(2):  # the pool's connection and its prepared statements, as in a service that runs
        await one_payment(parts, proxy, token, None)
        await one_payment(parts, proxy, token, str(uuid.uuid4()))
    cost = await one_payment(parts, proxy, token, key and str(uuid.uuid4()))
    # The lookup (a read), the attempt recorded, the answer recorded with the payment's events.
    assert cost.round_trips == 3, cost
    assert cost.transactions == 3, cost
    assert cost.statements == [], cost  # no reset query on release, no BEGIN or COMMIT


async def one_post(
    client: httpx.AsyncClient, proxy: CountingProxy, token: str, pm: str, key: str
) -> WireCount:
    """One POST /v1/pay/{token}/payments through the service's whole ASGI app, as a payer sends it."""
    body = {
        "amount": 1_000,
        "method": "card",
        "payer": {"name": "Ada Client", "email": "ada@example.com"},
        "payment_method": pm,
    }
    before = proxy.count.snapshot()
    response = await client.post(f"/v1/pay/{token}/payments", json=body, headers={"Idempotency-Key": key})
    assert response.status_code == 202, response.text
    return proxy.count - before


async def test_a_post_through_the_route_takes_three_round_trips(
    parts: LinkServiceParts, proxy: CountingProxy
) -> None:
    """The whole route (its dependencies, middleware, the intake), not only the intake: anything the route
    adds on Postgres shows here. The app's runtime is not started (no relay or consumer on the wire): its
    parts are the test's, on the counting pool."""
    app = create_app(parts.settings, parts.processor)
    app.state.parts = parts
    processor = cast(FakeProcessor, parts.processor)
    token = await bill_link(parts.runtime.pool, parts.tokens)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://link-service") as client:
        for _ in range(2):  # warm: the pool's connection and its prepared statements
            await one_post(client, proxy, token, processor.card(), str(uuid.uuid4()))
        cost = await one_post(client, proxy, token, processor.card(), str(uuid.uuid4()))
    assert cost.round_trips == 3, cost
    assert cost.transactions == 3, cost  # the lookup (a read), the attempt, the answer
    assert cost.statements == [], cost


async def test_a_settlement_webhook_takes_two_round_trips_one_statement_each(
    parts: LinkServiceParts, proxy: CountingProxy
) -> None:
    """payment.succeeded through the whole app: the attempt with its stream (one read), then the webhook id
    with the events and their outbox rows (one write); no BEGIN or COMMIT (the fee account comes from the
    attempt)."""
    app = create_app(parts.settings, parts.processor)
    app.state.parts = parts
    processor = cast(FakeProcessor, parts.processor)
    token = await bill_link(parts.runtime.pool, parts.tokens)

    async def settle(client: httpx.AsyncClient, payment_id: str) -> WireCount:
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "payment.succeeded",
                "data": {"payment_id": payment_id, "fee": 59},
            }
        ).encode()
        now = int(time.time())
        signature = webhook_signature.sign(parts.settings.webhook_secret, now, body)
        before = proxy.count.snapshot()
        response = await client.post(
            "/v1/processor/webhooks",
            content=body,
            headers={webhook_signature.HEADER: signature, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "applied"
        return proxy.count - before

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://link-service") as client:
        paid = []
        for _ in range(3):
            await one_post(client, proxy, token, processor.card(), str(uuid.uuid4()))
            paid.append(
                await parts.runtime.pool.fetchval(
                    "SELECT payment_id FROM payment_attempts ORDER BY created_at DESC LIMIT 1"
                )
            )
        for payment_id in paid[:2]:  # warm
            await settle(client, payment_id)
        cost = await settle(client, paid[2])
    assert cost.round_trips == 2, cost
    assert cost.transactions == 2, cost
    assert cost.statements == [], cost
