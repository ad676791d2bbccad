"""Checking what a payer's browser sends for tokenization, without I/O: Luhn, expiry, CVC, ABA routing.

The input types hide the number, the CVC and the account number from `repr` and `str`, so that no log line,
traceback or error message can carry them; what is kept is a `PaymentMethodDraft` (brand, last four, expiry,
and the scenario the number selects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from paylinks_runtime.card_numbers import luhn_valid

from .scenarios import Scenario, bank_scenario, card_scenario

MAX_YEARS_AHEAD = 100  # generous (test cards often say 2099), and a year Postgres and the payer can both hold


class InvalidInstrument(Exception):
    """A 422 for the payer: `code` is one of docs/processor-api.md's tokenization codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CardInput:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)


@dataclass(frozen=True)
class BankInput:
    routing_number: str = field(repr=False)
    account_number: str = field(repr=False)
    account_holder_name: str


@dataclass(frozen=True)
class PaymentMethodDraft:
    """All the processor keeps of an instrument."""

    type: str  # "card" | "us_bank_account"
    last4: str
    scenario: Scenario
    brand: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    account_holder_name: str | None = None


def card_method(card: CardInput, today: date) -> PaymentMethodDraft:
    number = _digits_only(card.number)
    if not (12 <= len(number) <= 19 and number.isdigit() and luhn_valid(number)):
        raise InvalidInstrument("invalid_number", "the card number is not valid")
    year = _four_digit_year(card.exp_year)
    too_far = year > today.year + MAX_YEARS_AHEAD
    if not 1 <= card.exp_month <= 12 or (year, card.exp_month) < (today.year, today.month) or too_far:
        raise InvalidInstrument("invalid_expiry", "the expiry date is not valid or has passed")
    brand = card_brand(number)
    cvc_length = 4 if brand == "amex" else 3
    if not (len(card.cvc) == cvc_length and card.cvc.isdigit()):
        raise InvalidInstrument("invalid_cvc", "the security code is not valid")
    return PaymentMethodDraft(
        type="card",
        last4=number[-4:],
        scenario=card_scenario(number),
        brand=brand,
        exp_month=card.exp_month,
        exp_year=year,
    )


def bank_method(bank: BankInput) -> PaymentMethodDraft:
    routing = bank.routing_number.strip()
    if not (len(routing) == 9 and routing.isdigit() and aba_valid(routing)):
        raise InvalidInstrument("invalid_routing_number", "the routing number is not valid")
    account = bank.account_number.strip()
    if not (4 <= len(account) <= 17 and account.isdigit()):
        raise InvalidInstrument("invalid_account_number", "the account number is not valid")
    holder = bank.account_holder_name.strip()
    if not holder:
        raise InvalidInstrument("invalid_account_holder_name", "the account holder's name is missing")
    return PaymentMethodDraft(
        type="us_bank_account",
        last4=account[-4:],
        scenario=bank_scenario(account),
        account_holder_name=holder,
    )


def aba_valid(routing: str) -> bool:
    """The ABA routing number checksum: weights 3, 7, 1 repeated, the sum a multiple of ten."""
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


def _digits_only(number: str) -> str:
    """Spaces and dashes as a payer types them are allowed; anything else stays and fails the check."""
    return number.replace(" ", "").replace("-", "")


def _four_digit_year(year: int) -> int:
    return 2000 + year if 0 <= year < 100 else year
