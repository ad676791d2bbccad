"""The public JSON pay API: what a link pays into, and payment attempts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel

from ..commands.errors import PaymentDeclined
from ..config import Settings
from ..domain.pay_target import PayTarget
from .context import OpenedLink, Parts, parts_of, payment_attempt
from .payment_input import PaymentInput

router = APIRouter(prefix="/v1/pay", tags=["pay"])

Via = Annotated[Literal["qr"] | None, Query(description="`qr` when the link was opened from its QR code")]


class ProcessorView(BaseModel):
    """Where the payer's browser tokenizes card or bank details, and the key it may use there."""

    url: str
    publishable_key: str


class PayLinkView(BaseModel):
    kind: Literal["bank_account", "bill"]
    status: Literal["open", "paid", "void"]
    firm_name: str
    bank_account_name: str
    currency: str
    amount_due: int | None
    processor: ProcessorView


class PaymentAccepted(BaseModel):
    payment_id: str
    status: Literal["received"] = "received"


def link_view(target: PayTarget, settings: Settings) -> PayLinkView:
    return PayLinkView(
        kind=target.kind,
        status=target.status,
        firm_name=target.firm_name,
        bank_account_name=target.bank_account_name,
        currency=target.currency,
        amount_due=target.amount_due,
        processor=ProcessorView(
            url=settings.processor_browser_url, publishable_key=settings.processor_publishable_key
        ),
    )


@router.get("/{token}", response_model=PayLinkView)
async def show_link(target: OpenedLink, parts: Parts) -> PayLinkView:
    return link_view(target, parts.settings)


@router.post(
    "/{token}/payments",
    status_code=202,
    response_model=PaymentAccepted,
    dependencies=[Depends(payment_attempt)],
)
async def pay(
    target: OpenedLink,
    body: PaymentInput,
    request: Request,
    via: Via = None,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> PaymentAccepted:
    parts = parts_of(request)  # not a dependency: see _opened_link
    parts.limit_attempts(target, request)  # here: a body that failed validation never reached this line
    parts.refuse_if_paused(target)
    try:
        payment_id = await parts.intake.pay(target, body.to_request(via_qr=via == "qr"), idempotency_key)
    except PaymentDeclined:
        await parts.count_decline(target, request)
        raise
    return PaymentAccepted(payment_id=payment_id)
