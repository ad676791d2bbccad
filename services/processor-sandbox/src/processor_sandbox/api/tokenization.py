"""`POST /v1/payment_methods`: the payer's browser turns card or bank details into a one-payment token.

The details arrive as secrets (pydantic `SecretStr`: never in a repr, a log line or a validation message)
and are dropped once checked: a token keeps brand, last four, expiry and the test scenario only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, SecretStr

from paylinks_runtime.errors import ApiError

from .. import payment_methods
from ..instruments import BankInput, CardInput, InvalidInstrument, bank_method, card_method
from .access import TOKENIZATION_PATH, PublishableKey, Runtime

router = APIRouter(tags=["tokenization"])


class CardDetails(BaseModel):
    number: SecretStr = Field(max_length=40)
    exp_month: int
    exp_year: int
    cvc: SecretStr = Field(max_length=8)


class BankDetails(BaseModel):
    routing_number: SecretStr = Field(max_length=20)
    account_number: SecretStr = Field(max_length=40)
    account_holder_name: str = Field(max_length=200)


class CardMethodRequest(BaseModel):
    type: Literal["card"]
    card: CardDetails


class BankMethodRequest(BaseModel):
    type: Literal["us_bank_account"]
    us_bank_account: BankDetails


MethodRequest = Annotated[CardMethodRequest | BankMethodRequest, Field(discriminator="type")]


@router.post(TOKENIZATION_PATH, status_code=201, dependencies=[PublishableKey])
async def create_payment_method(body: Annotated[MethodRequest, Body()], sandbox: Runtime) -> dict[str, Any]:
    try:
        if isinstance(body, CardMethodRequest):
            card = body.card
            draft = card_method(
                CardInput(
                    card.number.get_secret_value(), card.exp_month, card.exp_year, card.cvc.get_secret_value()
                ),
                datetime.now(UTC).date(),
            )
        else:
            bank = body.us_bank_account
            draft = bank_method(
                BankInput(
                    bank.routing_number.get_secret_value(),
                    bank.account_number.get_secret_value(),
                    bank.account_holder_name,
                )
            )
    except InvalidInstrument as exc:
        raise ApiError(
            422, exc.code, exc.message
        ) from None  # `from None`: no card data in a chained traceback
    return await payment_methods.save(sandbox.pool, draft)
