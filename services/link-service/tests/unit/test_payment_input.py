"""Payment instruments and the sandbox's test numbers."""

from __future__ import annotations

import pytest

from link_service.domain.instruments import BankDetails, Card, card_brand, luhn_valid
from link_service.processor import Declined
from link_service.processor.sandbox import SandboxProcessor, Settlement

pytestmark = pytest.mark.unit


def test_numbers_never_show_in_a_repr() -> None:
    card, bank = Card("4242424242424242", 12, 2031, "987"), BankDetails("110000000", "000123456789")
    assert "4242424242424242" not in repr(card) and "987" not in repr(card)
    assert "000123456789" not in repr(bank) and "110000000" not in repr(bank)


def test_luhn_and_brands() -> None:
    assert luhn_valid("4242424242424242") and luhn_valid("4000000000000002")
    assert not luhn_valid("4242424242424241") and not luhn_valid("42424242x4242424")
    assert [card_brand(n) for n in ("4242", "5555", "378282", "6011", "9999")] == [
        "visa",
        "mastercard",
        "amex",
        "discover",
        "unknown",
    ]


@pytest.mark.parametrize(
    ("instrument", "outcome"),
    [
        (Card("4242424242424242", 1, 2031, "1"), Settlement("payment.succeeded", None, 2)),
        (Card("4000000000000002", 1, 2031, "1"), Declined("card_declined")),
        (Card("4242424242424241", 1, 2031, "1"), Declined("invalid_number")),
        (BankDetails("110000000", "000123456789"), Settlement("payment.succeeded", None, 5)),
        (BankDetails("110000000", "000111111113"), Settlement("payment.failed", "R01", 5)),
    ],
)
def test_the_sandbox_outcomes(instrument: Card | BankDetails, outcome: object) -> None:
    assert SandboxProcessor(card_settle_seconds=2, echeck_settle_seconds=5).outcome(instrument) == outcome
