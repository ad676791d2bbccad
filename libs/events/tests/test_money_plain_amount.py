"""Minor units as decimals in the currency's own units (ISO 4217 exponents), with integer arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paylinks_events.currencies import exponent
from paylinks_events.money import plain_amount

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("minor_units", "currency", "shown"),
    [
        (12500, "USD", "125.00"),
        (5, "USD", "0.05"),
        (0, "EUR", "0.00"),
        (-1050, "USD", "-10.50"),
        (-5, "USD", "-0.05"),
        (5000, "JPY", "5000"),
        (-5000, "jpy", "-5000"),
        (1500, "KWD", "1.500"),
        (12345, "CLF", "1.2345"),
        (10**20 + 1, "USD", "1000000000000000000.01"),
    ],
)
def test_plain_amounts_follow_the_currency_exponent(minor_units: int, currency: str, shown: str) -> None:
    assert plain_amount(minor_units, currency) == shown


@given(st.integers(min_value=-(10**18), max_value=10**18), st.sampled_from(["USD", "JPY", "KWD", "CLF"]))
def test_the_decimal_reads_back_as_the_same_minor_units(minor_units: int, currency: str) -> None:
    shown = Decimal(plain_amount(minor_units, currency))
    assert shown.scaleb(exponent(currency)) == minor_units
