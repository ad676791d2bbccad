"""What a payer pays with. The numbers live only in memory on their way to the processor: `repr` hides them,
and only the brand and the last four digits ever leave this module."""

from __future__ import annotations

from dataclasses import dataclass, field

from paylinks_events.models import PaymentMethod


@dataclass(frozen=True)
class Card:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    @property
    def brand(self) -> str:
        return card_brand(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class BankDetails:
    routing_number: str = field(repr=False)
    account_number: str = field(repr=False)

    @property
    def last4(self) -> str:
        return self.account_number[-4:]


Instrument = Card | BankDetails

_BRAND_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amex", ("34", "37")),
    ("discover", ("6011", "65")),
    ("mastercard", ("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27")),
    ("visa", ("4",)),
)


def card_brand(number: str) -> str:
    for brand, prefixes in _BRAND_PREFIXES:
        if number.startswith(prefixes):
            return brand
    return "unknown"


def luhn_valid(number: str) -> bool:
    """The check digit every card number carries: catches typos before anything is sent anywhere."""
    if not number.isdigit():
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def method_of(instrument: Instrument) -> PaymentMethod:
    return "card" if isinstance(instrument, Card) else "echeck"
