"""The body of a payment attempt, shared by the JSON API and the HTML form. Card and bank numbers are
SecretStr: they never show in a repr, a log line or a validation message."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StrictInt,
    field_validator,
    model_validator,
)

from paylinks_events import Payer

from ..commands.intake import PaymentRequest
from ..domain.instruments import BankDetails, Card, Instrument


def _digits(value: SecretStr, low: int, high: int, what: str) -> SecretStr:
    raw = value.get_secret_value().replace(" ", "").replace("-", "")
    if not (raw.isdigit() and low <= len(raw) <= high):
        raise ValueError(
            f"{what} must be {low} to {high} digits" if low != high else f"{what} must be {low} digits"
        )
    return SecretStr(raw)


class CardInput(BaseModel):
    number: SecretStr
    exp_month: StrictInt = Field(ge=1, le=12)
    exp_year: StrictInt = Field(ge=2000, le=2100)
    cvc: SecretStr

    @field_validator("number")
    @classmethod
    def _number(cls, value: SecretStr) -> SecretStr:
        return _digits(value, 12, 19, "the card number")

    @field_validator("cvc")
    @classmethod
    def _cvc(cls, value: SecretStr) -> SecretStr:
        return _digits(value, 3, 4, "the security code (CVC)")

    @model_validator(mode="after")
    def _not_expired(self) -> CardInput:
        today = date.today()
        if (self.exp_year, self.exp_month) < (today.year, today.month):
            raise ValueError("the card has expired")
        return self


class BankInput(BaseModel):
    routing_number: SecretStr
    account_number: SecretStr

    @field_validator("routing_number")
    @classmethod
    def _routing(cls, value: SecretStr) -> SecretStr:
        return _digits(value, 9, 9, "the routing number")

    @field_validator("account_number")
    @classmethod
    def _account(cls, value: SecretStr) -> SecretStr:
        return _digits(value, 4, 17, "the account number")


class PayerInput(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class PaymentInput(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    amount: StrictInt = Field(description="integer minor units (cents)")
    method: Literal["card", "echeck"]
    payer: PayerInput
    reference: str | None = Field(default=None, max_length=200)
    card: CardInput | None = None
    bank: BankInput | None = None

    @model_validator(mode="after")
    def _instrument_matches_method(self) -> PaymentInput:
        if self.method == "card" and self.card is None:
            raise ValueError("card details are required to pay by card")
        if self.method == "echeck" and self.bank is None:
            raise ValueError("bank details are required to pay by eCheck")
        return self

    def instrument(self) -> Instrument:
        if self.method == "card":
            assert self.card is not None
            c = self.card
            return Card(c.number.get_secret_value(), c.exp_month, c.exp_year, c.cvc.get_secret_value())
        assert self.bank is not None
        return BankDetails(
            self.bank.routing_number.get_secret_value(), self.bank.account_number.get_secret_value()
        )

    def to_request(self, *, via_qr: bool) -> PaymentRequest:
        return PaymentRequest(
            amount=self.amount,
            instrument=self.instrument(),
            payer=Payer(name=self.payer.name, email=str(self.payer.email)),
            reference=self.reference or None,
            via_qr=via_qr,
        )
