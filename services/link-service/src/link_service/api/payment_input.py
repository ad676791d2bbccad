"""The body of a payment attempt (CONTRACT.md section 2, v2), shared by the JSON API and the HTML form.

It carries the processor's token for what the payer entered, never the numbers themselves: a body that holds
card or bank numbers is refused before it is parsed (`refuse_raw_payment_details`), so no validation
message, log line or table ever sees one.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StrictInt

from paylinks_events import Payer
from paylinks_runtime.errors import ApiError

from ..commands.intake import PaymentRequest
from ..domain.raw_payment_details import carries_raw_payment_details, holds_card_number

PAYMENT_METHOD_TOKEN = r"^pm_[A-Za-z0-9_-]{1,128}$"  # noqa: S105 - a pattern, not a secret


class PayerInput(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class AuthorizationInput(BaseModel):
    accepted: StrictBool = Field(description="the payer accepted the eCheck debit authorization shown")


class PaymentInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    amount: StrictInt = Field(description="integer minor units (cents)")
    method: Literal["card", "echeck"]
    payer: PayerInput
    reference: str | None = Field(default=None, max_length=200)
    payment_method: str = Field(
        pattern=PAYMENT_METHOD_TOKEN, description="the token the payer's browser got from the processor"
    )
    authorization: AuthorizationInput | None = Field(default=None, description="required for echeck")

    def to_request(self, *, via_qr: bool) -> PaymentRequest:
        return PaymentRequest(
            amount=self.amount,
            method=self.method,
            payment_method=self.payment_method,
            payer=Payer(name=self.payer.name, email=str(self.payer.email)),
            reference=self.reference or None,
            via_qr=via_qr,
            authorization_accepted=self.authorization is not None and self.authorization.accepted,
        )


def raw_payment_details_refused() -> ApiError:
    return ApiError(
        422,
        "raw_payment_details_refused",
        "Card and bank details go to the payment processor, never here: post its payment_method token.",
    )


async def refuse_raw_payment_details(request: Request) -> None:
    """Route dependency, solved before the body is validated: card or bank numbers never get further (nor
    into the idempotency table through the Idempotency-Key header)."""
    if holds_card_number(request.headers.get("idempotency-key", "")):
        raise raw_payment_details_refused()
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return  # not JSON: FastAPI's own 422 follows, which echoes nothing of it
    if carries_raw_payment_details(body):
        raise raw_payment_details_refused()
