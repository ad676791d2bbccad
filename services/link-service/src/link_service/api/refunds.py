"""Refunds of a payment (CONTRACT.md section 2, v2): admins ask, staff see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field, StrictInt

from ..commands.refunds import RefundView
from ..domain.payment import RefundAsk
from .context import AdminOnly, Parts, StaffOnly


class NewRefund(BaseModel):
    amount: StrictInt = Field(gt=0, description="integer minor units; at most what is still refundable")
    reason: str = Field(min_length=1, max_length=500)


class RefundAccepted(BaseModel):
    refund_id: str
    payment_id: str
    amount: int
    status: Literal["pending", "succeeded", "failed"]


class RefundOut(BaseModel):
    refund_id: str
    amount: int
    status: Literal["pending", "succeeded", "failed"]
    reason: str
    requested_by: str
    requested_at: datetime


class RefundList(BaseModel):
    items: list[RefundOut]


router = APIRouter(prefix="/v1/payments", tags=["refunds"])


@router.post("/{payment_id}/refunds", status_code=202, response_model=RefundAccepted)
async def refund_payment(
    payment_id: str,
    body: NewRefund,
    user: AdminOnly,
    parts: Parts,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> RefundAccepted:
    """202 pending (a retry with the same Idempotency-Key: the refund as it is now). The processing fee is
    not given back."""
    ask = RefundAsk(amount=body.amount, reason=body.reason, requested_by=user.user_id)
    refund = await parts.refunds.refund(user.firm_id, payment_id, ask, idempotency_key)
    return RefundAccepted(
        refund_id=refund.refund_id, payment_id=refund.payment_id, amount=refund.amount, status=refund.status
    )


@router.get("/{payment_id}/refunds", response_model=RefundList)
async def list_refunds(payment_id: str, user: StaffOnly, parts: Parts) -> RefundList:
    refunds = await parts.refunds.refunds_of(user.firm_id, payment_id)
    return RefundList(items=[_out(refund) for refund in refunds])


def _out(refund: RefundView) -> RefundOut:
    return RefundOut(
        refund_id=refund.refund_id,
        amount=refund.amount,
        status=refund.status,
        reason=refund.reason,
        requested_by=refund.requested_by,
        requested_at=refund.requested_at,
    )
