"""Tokenization checks and the scenario each test number selects, without I/O."""

from datetime import date

import pytest

from paylinks_runtime.testing import CARD_EXPIRY_YEAR
from processor_sandbox.instruments import (
    BankInput,
    CardInput,
    InvalidInstrument,
    aba_valid,
    bank_method,
    card_brand,
    card_method,
)
from processor_sandbox.scenarios import Scenario

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 2)


def card(
    number: str = "4242424242424242", month: int = 12, year: int = CARD_EXPIRY_YEAR, cvc: str = "123"
) -> CardInput:
    return CardInput(number, month, year, cvc)


def bank(account: str = "000123456789", routing: str = "110000000", holder: str = "Dana") -> BankInput:
    return BankInput(routing, account, holder)


@pytest.mark.parametrize(
    ("routing", "valid"),
    [
        ("110000000", True),
        ("021000021", True),
        ("011401533", True),
        ("110000001", False),
        ("021000022", False),
    ],
)
def test_aba_checksum(routing: str, valid: bool) -> None:
    assert aba_valid(routing) is valid


@pytest.mark.parametrize(
    ("number", "scenario"),
    [
        ("4242424242424242", Scenario.CARD_OK),
        ("4000000000000002", Scenario.CARD_DECLINED),
        ("4000000000000259", Scenario.CARD_DISPUTE_LOST),
        ("4242 4242 4242 4242", Scenario.CARD_OK),
        ("5555555555554444", Scenario.CARD_OK),
    ],
)
def test_each_test_card_selects_its_scenario(number: str, scenario: Scenario) -> None:
    assert card_method(card(number), TODAY).scenario is scenario


@pytest.mark.parametrize(
    ("account", "scenario"),
    [
        ("000123456789", Scenario.ECHECK_OK),
        ("000111111113", Scenario.ECHECK_R01),
        ("000222222227", Scenario.ECHECK_R10),
        ("987654321", Scenario.ECHECK_OK),
    ],
)
def test_each_test_account_selects_its_scenario(account: str, scenario: Scenario) -> None:
    assert bank_method(bank(account)).scenario is scenario


def test_a_token_keeps_brand_last4_and_expiry_only() -> None:
    draft = card_method(card("4242424242424242", 1, CARD_EXPIRY_YEAR % 100), TODAY)  # a two-digit year
    assert (draft.brand, draft.last4, draft.exp_month, draft.exp_year) == (
        "visa",
        "4242",
        1,
        CARD_EXPIRY_YEAR,
    )
    assert "4242424242424242" not in repr(draft)


def test_the_number_and_cvc_never_show_in_a_repr() -> None:
    text = repr(card("4242424242424242", cvc="987")) + str(bank("000123456789", "110000000"))
    assert "4242424242424242" not in text
    assert "987" not in text
    assert "000123456789" not in text
    assert "110000000" not in text


@pytest.mark.parametrize(
    ("given", "code"),
    [
        (card("4242424242424241"), "invalid_number"),
        (card("42424242424"), "invalid_number"),  # too short
        (card("4242x24242424242"), "invalid_number"),
        (card(month=13), "invalid_expiry"),
        (card(month=0), "invalid_expiry"),
        (card(month=11, year=2026), "invalid_expiry"),  # last month
        (card(year=2127), "invalid_expiry"),  # more than 100 years ahead
        (card(year=10**20), "invalid_expiry"),
        (card(cvc="12"), "invalid_cvc"),
        (card(cvc="12a"), "invalid_cvc"),
        (card("378282246310005", cvc="123"), "invalid_cvc"),  # amex has four
    ],
)
def test_bad_cards_are_refused_with_their_code(given: CardInput, code: str) -> None:
    with pytest.raises(InvalidInstrument) as refused:
        card_method(given, TODAY)
    assert refused.value.code == code


def test_a_card_expiring_this_month_is_still_good() -> None:
    assert card_method(card(month=12, year=2026), TODAY).exp_year == 2026
    assert card_method(card("378282246310005", cvc="1234"), TODAY).brand == "amex"


@pytest.mark.parametrize(
    ("given", "code"),
    [
        (bank(routing="110000001"), "invalid_routing_number"),
        (bank(routing="11000000"), "invalid_routing_number"),
        (bank(account="123"), "invalid_account_number"),
        (bank(account="0001234567890123456"), "invalid_account_number"),
        (bank(account="00012345678a"), "invalid_account_number"),
        (bank(holder="  "), "invalid_account_holder_name"),
    ],
)
def test_bad_bank_accounts_are_refused_with_their_code(given: BankInput, code: str) -> None:
    with pytest.raises(InvalidInstrument) as refused:
        bank_method(given)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3056930009020004", "unknown"),
    ],
)
def test_card_brand(number: str, brand: str) -> None:
    assert card_brand(number) == brand
