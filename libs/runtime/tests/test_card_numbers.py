"""The Luhn check digit, the one implementation the sandbox and link-service share."""

import pytest

from paylinks_runtime.card_numbers import luhn_valid

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4000000000000002", True),
        ("4000000000000259", True),
        ("378282246310005", True),  # amex, odd length
        ("4242424242424241", False),
        ("0", True),
        ("18", True),
        ("17", False),
        ("42424242x4242424", False),
        ("", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid
