"""The ISO 4217 table: codes and their exponents."""

from __future__ import annotations

import pytest

from paylinks_events.currencies import ISO_4217, exponent, iso_4217

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("CLF", 4)]
)
def test_each_currency_has_its_exponent(code: str, digits: int) -> None:
    assert exponent(code) == digits


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "usd", "US", "XTS"])
def test_codes_outside_iso_4217_or_not_for_money_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        iso_4217(code)
    assert code not in ISO_4217
