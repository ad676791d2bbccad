"""Payment instruments, the sandbox's test numbers, and the HTML form's parsing into plain words."""

from __future__ import annotations

import pytest

from link_service.api.pay_form import parse
from link_service.domain.instruments import BankDetails, Card, card_brand, luhn_valid
from link_service.processor import Declined
from link_service.processor.sandbox import SandboxProcessor, Settlement
from paylinks_runtime.testing import CARD_EXPIRY, CARD_EXPIRY_YEAR

pytestmark = pytest.mark.unit


def test_numbers_never_show_in_a_repr() -> None:
    card, bank = (
        Card("4242424242424242", 12, CARD_EXPIRY_YEAR, "987"),
        BankDetails("110000000", "000123456789"),
    )
    assert "4242424242424242" not in repr(card)
    assert "987" not in repr(card)
    assert "000123456789" not in repr(bank)
    assert "110000000" not in repr(bank)


def test_luhn_and_brands() -> None:
    assert luhn_valid("4242424242424242")
    assert luhn_valid("4000000000000002")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("42424242x4242424")
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
        (Card("4242424242424242", 1, CARD_EXPIRY_YEAR, "1"), Settlement("payment.succeeded", None, 2)),
        (Card("4000000000000002", 1, CARD_EXPIRY_YEAR, "1"), Declined("card_declined")),
        (Card("4242424242424241", 1, CARD_EXPIRY_YEAR, "1"), Declined("invalid_number")),
        (BankDetails("110000000", "000123456789"), Settlement("payment.succeeded", None, 5)),
        (BankDetails("110000000", "000111111113"), Settlement("payment.failed", "R01", 5)),
    ],
)
def test_the_sandbox_outcomes(instrument: Card | BankDetails, outcome: object) -> None:
    assert SandboxProcessor(card_settle_seconds=2, echeck_settle_seconds=5).outcome(instrument) == outcome


def form(**fields: str) -> dict[str, str]:
    return {
        "amount": "1,234.50",
        "name": "Ada",
        "email": "ada@example.com",
        "method": "card",
        "card_number": "4242 4242 4242 4242",
        "card_exp": CARD_EXPIRY,
        "card_cvc": "123",
        **fields,
    }


def test_a_good_form_becomes_a_payment_in_cents() -> None:
    parsed = parse(form())
    assert parsed.errors == []
    assert parsed.payment is not None
    assert parsed.payment.amount == 123_450
    card = parsed.payment.instrument()
    assert isinstance(card, Card)
    assert (card.number, card.exp_month, card.exp_year) == (
        "4242424242424242",
        12,
        CARD_EXPIRY_YEAR,
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"amount": ""}, "Amount: enter an amount such as 125.00."),
        ({"card_exp": "1231"}, "Expiry: enter the month and year as MM/YY."),
        ({"card_exp": "01/20"}, "Card: the card has expired."),
        ({"card_number": "12"}, "Card number: the card number must be 12 to 19 digits."),
        ({"name": ""}, "Your name: "),
        (
            {"method": "echeck", "routing_number": "12", "account_number": "000123456789"},
            "Routing number: the routing number must be 9 digits.",
        ),
    ],
)
def test_bad_forms_get_plain_words(fields: dict[str, str], words: str) -> None:
    parsed = parse(form(**fields))
    assert parsed.payment is None
    assert any(error.startswith(words) for error in parsed.errors), parsed.errors
    assert "card_number" not in parsed.values
    assert "card_cvc" not in parsed.values
