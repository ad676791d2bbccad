"""Money by each currency's ISO 4217 exponent, never by a fixed 100: 5000 JPY is ¥5,000."""

from __future__ import annotations

import pytest

from paylinks_events.currencies import exponent
from paylinks_events.money import affixes, format_money, plain_amount

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("amount", "currency", "shown", "typed"),
    [
        (12_500, "USD", "$125.00", "125.00"),
        (123_456_789, "USD", "$1,234,567.89", "1234567.89"),
        (5, "USD", "$0.05", "0.05"),
        (5_000, "JPY", "¥5,000", "5000"),
        (1_000_000, "KRW", "1,000,000 KRW", "1000000"),
        (1_500, "KWD", "1.500 KWD", "1.500"),
        (12_345, "CLF", "1.2345 CLF", "1.2345"),
        (1_500, "CHF", "15.00 CHF", "15.00"),
        (-2_050, "EUR", "-€20.50", "-20.50"),
    ],
)
def test_amounts_read_and_type_by_the_currency_exponent(
    amount: int, currency: str, shown: str, typed: str
) -> None:
    assert format_money(amount, currency) == shown
    assert plain_amount(amount, currency) == typed


def test_exponents_and_affixes() -> None:
    assert [exponent(c) for c in ("USD", "JPY", "BHD", "UYW", "EUR")] == [2, 0, 3, 4, 2]
    assert affixes("JPY") == ("¥", "")
    assert affixes("SEK") == ("", " SEK")
