"""The staff page shows amounts by their currency's exponent."""

from __future__ import annotations

import pytest

from reconciliation_service.page import _money

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (12_500, "USD", "125.00 USD"),
        (5_000, "JPY", "5,000 JPY"),
        (1_500, "KWD", "1.500 KWD"),
        (None, "USD", "unknown"),
    ],
)
def test_money_is_shown_by_the_currency_exponent(amount: int | None, currency: str, shown: str) -> None:
    assert _money(amount, currency) == shown
