"""The sandbox's test controls (CONTRACT.md section 3), with the secret key. An Idempotency-Key is honoured
when given (the same rules as for charges) and not required: these are a test's levers, not money calls."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from paylinks_runtime.errors import not_found

from .. import charges, idempotency, reversals
from .access import OptionalIdempotencyKey, Runtime, SecretKey
from .replies import run_and_reply

router = APIRouter(prefix="/v1/sandbox", tags=["sandbox controls"], dependencies=[SecretKey])


class DisputeBody(BaseModel):
    outcome: Literal["won", "lost"] | None = None
    reason: str = Field(default=reversals.DEFAULT_DISPUTE_REASON, min_length=1, max_length=100)


class ReturnBody(BaseModel):
    reason: str = Field(pattern=r"^R[0-9]{2}$")


class PayoutBody(BaseModel):
    firm_id: str | None = Field(default=None, min_length=1, max_length=200)


@router.get("/charges")
async def list_charges(sandbox: Runtime, payment_id: str = Query(min_length=1)) -> dict[str, Any]:
    async with sandbox.pool.acquire() as conn:
        return {"items": await charges.all_for(conn, payment_id)}


@router.post("/payments/{payment_id}/dispute")
async def dispute(
    payment_id: str, body: DisputeBody, request: Request, key: OptionalIdempotencyKey, sandbox: Runtime
) -> JSONResponse:
    async def open_now(conn: asyncpg.Connection) -> idempotency.Reply:
        charge = await _charge(conn, payment_id)
        data = await reversals.open_dispute(
            conn, charge, sandbox.settings, outcome=body.outcome, reason=body.reason
        )
        return idempotency.Reply(200, data)

    return await run_and_reply(request, body, key, sandbox, open_now)


@router.post("/payments/{payment_id}/return")
async def return_payment(
    payment_id: str, body: ReturnBody, request: Request, key: OptionalIdempotencyKey, sandbox: Runtime
) -> JSONResponse:
    async def return_now(conn: asyncpg.Connection) -> idempotency.Reply:
        charge = await _charge(conn, payment_id)
        return idempotency.Reply(200, await reversals.return_payment(conn, charge, body.reason))

    return await run_and_reply(request, body, key, sandbox, return_now)


@router.post("/payouts")
async def pay_out(sandbox: Runtime, body: PayoutBody | None = None) -> dict[str, Any]:
    """Pays out now; repeating it pays out only what settled since, so it needs no Idempotency-Key."""
    return {"payouts": await sandbox.pay_out(body.firm_id if body else None)}


async def _charge(conn: asyncpg.Connection, payment_id: str) -> asyncpg.Record:
    charge = await charges.latest(conn, payment_id, lock=True)
    if charge is None:
        raise not_found("payment")
    return charge
