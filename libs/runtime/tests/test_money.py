"""Money formatting from integer minor units by ISO 4217 exponent."""

from __future__ import annotations

import pytest

from paylinks_runtime.money import amount_text, exponent, format_money

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12500, "USD", "$125.00"),
        (5, "USD", "$0.05"),
        (0, "USD", "$0.00"),
        (123456789, "EUR", "€1,234,567.89"),
        (5000, "JPY", "5,000 JPY"),
        (999, "CHF", "9.99 CHF"),
        (1234, "KWD", "1.234 KWD"),
        (-250, "USD", "-$2.50"),
        (-250, "CHF", "-2.50 CHF"),
    ],
)
def test_money_reads_as_a_person_writes_it(amount: int, currency: str, expected: str) -> None:
    assert format_money(amount, currency) == expected


def test_huge_amounts_keep_every_cent() -> None:
    # a float would round this: 2**53 + 1 cents
    assert amount_text(2**53 + 1, "USD") == "90,071,992,547,409.93"


def test_a_form_value_has_no_grouping() -> None:
    assert amount_text(123450, "USD", grouping=False) == "1234.50"
    assert amount_text(123450, "JPY", grouping=False) == "123450"


def test_exponents_follow_iso_4217() -> None:
    assert [exponent(c) for c in ("USD", "JPY", "KWD", "CLF")] == [2, 0, 3, 4]
