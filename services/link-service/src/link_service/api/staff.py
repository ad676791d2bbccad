"""Staff endpoints (JWT): bank accounts, their permanent link and QR code, and bill links."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator, BaseModel, Field, StrictInt

from paylinks_events.currencies import iso_4217

from .. import qr_codes
from ..commands import links
from ..commands.firm_profile import update_profile
from ..commands.links import IssuedLink
from ..store import accounts
from ..store.tables import firm_writer
from .context import AdminOnly, Parts, StaffOnly


class NewBankAccount(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["trust", "operating"]
    currency: Annotated[str, AfterValidator(iso_4217)] = "USD"


class BankAccountOut(BaseModel):
    bank_account_id: str
    name: str
    kind: str
    currency: str


class BankAccountList(BaseModel):
    items: list[BankAccountOut]


class LinkOut(BaseModel):
    link_id: str
    kind: Literal["bank_account", "bill"]
    url: str


class FirmProfile(BaseModel):
    display_name: str = Field(min_length=1, max_length=200)
    fee_bank_account_id: str | None = Field(
        default=None, min_length=1, description="an operating account; without it, the firm's first one"
    )
    minimum_payment_amount: StrictInt | None = Field(
        default=None,
        gt=0,
        le=10**12,
        description="the smallest payment its links take (minor units); without it one unit of the currency",
    )


class FirmProfileOut(BaseModel):
    firm_id: str
    display_name: str
    fee_bank_account_id: str | None
    minimum_payment_amount: int | None = None


class NewBillLink(BaseModel):
    bank_account_id: str = Field(min_length=1)


def _link_out(issued: IssuedLink) -> LinkOut:
    return LinkOut(link_id=issued.link_id, kind=issued.kind, url=issued.url)


router = APIRouter(prefix="/v1", tags=["staff"])


@router.post("/bank-accounts", status_code=201, response_model=BankAccountOut)
async def register_bank_account(body: NewBankAccount, user: AdminOnly, parts: Parts) -> BankAccountOut:
    account = await links.register_bank_account(
        parts.link_writer, user.firm_id, name=body.name, kind=body.kind, currency=body.currency
    )
    return BankAccountOut(
        bank_account_id=account.id, name=account.name, kind=account.kind, currency=account.currency
    )


@router.put("/firm", response_model=FirmProfileOut)
async def update_firm_profile(body: FirmProfile, user: AdminOnly, parts: Parts) -> FirmProfileOut:
    firm = await update_profile(
        firm_writer(parts.runtime.writer),
        user.firm_id,
        body.display_name,
        body.fee_bank_account_id,
        body.minimum_payment_amount,
    )
    return FirmProfileOut(
        firm_id=firm.id,
        display_name=firm.display_name,
        fee_bank_account_id=firm.fee_bank_account_id,
        minimum_payment_amount=firm.minimum_payment_amount,
    )


@router.get("/bank-accounts", response_model=BankAccountList)
async def list_bank_accounts(user: StaffOnly, parts: Parts) -> BankAccountList:
    async with parts.runtime.pool.acquire() as conn:
        rows = await accounts.list_for_firm(conn, user.firm_id)
    return BankAccountList(items=[BankAccountOut(**row) for row in rows])


@router.post("/bank-accounts/{bank_account_id}/payment-link", response_model=LinkOut)
async def bank_account_link(bank_account_id: str, user: StaffOnly, parts: Parts) -> LinkOut:
    return _link_out(
        await links.account_link(parts.link_writer, parts.pay_links, user.firm_id, bank_account_id)
    )


@router.get(
    "/bank-accounts/{bank_account_id}/qr-code",
    response_class=Response,
    responses={200: {"content": {t: {} for t in qr_codes.MEDIA_TYPES.values()}}},
)
async def bank_account_qr_code(
    bank_account_id: str,
    user: StaffOnly,
    parts: Parts,
    format: Annotated[qr_codes.QrFormat, Query()] = "png",
) -> Response:
    issued = await links.account_link(parts.link_writer, parts.pay_links, user.firm_id, bank_account_id)
    image = qr_codes.render(issued.url, format, account_name=issued.payee)
    return Response(image, media_type=qr_codes.MEDIA_TYPES[format], headers={"Cache-Control": "no-store"})


@router.post("/bills/{bill_id}/payment-link", status_code=201, response_model=LinkOut)
async def bill_link(bill_id: str, body: NewBillLink, user: StaffOnly, parts: Parts) -> LinkOut:
    return _link_out(
        await links.bill_link(parts.link_writer, parts.pay_links, user.firm_id, bill_id, body.bank_account_id)
    )
