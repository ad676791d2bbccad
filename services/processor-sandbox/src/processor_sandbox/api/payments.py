"""The adapter's calls (secret key, Idempotency-Key): charges, refunds, and reading a charge back."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from paylinks_runtime.errors import not_found

from .. import charges, idempotency, reversals
from ..charges import ChargeRequest
from ..reversals import RefundRequest
from .access import IdempotencyKey, Runtime, SecretKey
from .replies import run_and_reply

router = APIRouter(tags=["payments"], dependencies=[SecretKey])

_ID = Field(min_length=1, max_length=200)
# Far above any payment (10 billion dollars in cents), far below what a bigint column holds.
MAX_AMOUNT = 10**12


class PaymentBody(BaseModel):
    payment_id: str = _ID
    payment_method: str = _ID
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    firm_id: str = _ID
    bank_account_id: str = _ID
    fee_bank_account_id: str | None = Field(default=None, min_length=1, max_length=200)
    # What the merchant believes it charges: a token of the other kind is refused (an eCheck's debit
    # authorization must not be skipped by calling it a card).
    method: Literal["card", "echeck"] | None = None


class RefundBody(BaseModel):
    refund_id: str = _ID
    payment_id: str = _ID
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True)


@router.post("/v1/payments", status_code=201)
async def create_payment(
    body: PaymentBody, request: Request, key: IdempotencyKey, sandbox: Runtime
) -> JSONResponse:
    async def charge(conn: asyncpg.Connection) -> idempotency.Reply:
        created = await charges.create(conn, ChargeRequest(**body.model_dump()), key, sandbox.settings)
        return idempotency.Reply(201, created)

    return await run_and_reply(request, body, key, sandbox, charge)


@router.post("/v1/refunds", status_code=201)
async def create_refund(
    body: RefundBody, request: Request, key: IdempotencyKey, sandbox: Runtime
) -> JSONResponse:
    async def refund(conn: asyncpg.Connection) -> idempotency.Reply:
        created = await reversals.create_refund(conn, RefundRequest(**body.model_dump()), sandbox.settings)
        return idempotency.Reply(201, created)

    return await run_and_reply(request, body, key, sandbox, refund)


@router.get("/v1/payments/{payment_id}")
async def get_payment(payment_id: str, sandbox: Runtime) -> dict[str, Any]:
    async with sandbox.pool.acquire() as conn:
        charge = await charges.latest(conn, payment_id)
    if charge is None:
        raise not_found("payment")
    return charges.view(charge)
