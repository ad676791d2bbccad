"""A pay target's refusals name money in its own currency, by the currency's exponent: ¥5,000, not $50.00."""

from __future__ import annotations

import pytest

from link_service.domain.pay_target import Bill, PayTarget
from paylinks_runtime.aggregate import DomainError

pytestmark = pytest.mark.unit


def bill_target(balance: int, currency: str) -> PayTarget:
    bill = Bill("bill-1", "firm-1", amount=balance, balance=balance, currency=currency, state="open")
    return PayTarget("link-1", "firm-1", "bill", "ba-1", "Tanaka Trust", currency, bill=bill)


@pytest.mark.parametrize(
    ("currency", "balance", "words"),
    [("JPY", 5_000, "(¥5,000)"), ("USD", 5_000, "($50.00)"), ("KWD", 5_000, "(5.000 KWD)")],
)
def test_above_the_balance_names_the_balance_in_its_currency(currency: str, balance: int, words: str) -> None:
    with pytest.raises(DomainError) as refused:
        bill_target(balance, currency).check_payable(balance + 1, limit=10**9)
    assert refused.value.code == "amount_above_balance"
    assert refused.value.message.endswith(f"above the balance due {words}.")


def test_above_the_limit_names_the_limit_in_the_currency() -> None:
    with pytest.raises(DomainError) as refused:
        bill_target(10**9, "JPY").check_payable(2_500_001, limit=2_500_000)
    assert refused.value.code == "amount_above_limit"
    assert "¥2,500,000" in refused.value.message


def account_target(currency: str, minimum: int | None = None) -> PayTarget:
    return PayTarget("link-1", "firm-1", "bank_account", "ba-1", "Trust", currency, minimum_amount=minimum)


@pytest.mark.parametrize(
    ("currency", "minimum", "refused", "taken", "words"),
    [
        ("USD", None, 99, 100, "$1.00"),  # one-cent card tests stop here
        ("USD", 2_500, 2_499, 2_500, "$25.00"),  # the firm's own minimum
    ],
)
def test_a_payment_below_the_firms_minimum_is_refused(
    currency: str, minimum: int | None, refused: int, taken: int, words: str
) -> None:
    target = account_target(currency, minimum)
    target.check_payable(taken, limit=10**9)
    with pytest.raises(DomainError) as below:
        target.check_payable(refused, limit=10**9)
    assert below.value.code == "amount_below_minimum"
    assert below.value.message.endswith(f"is {words}.")


def test_the_last_part_of_a_bill_can_be_paid_below_the_minimum() -> None:
    bill_target(50, "USD").check_payable(50, limit=10**9)  # 50 cents left: the minimum never blocks it
    with pytest.raises(DomainError) as below:
        bill_target(50, "USD").check_payable(49, limit=10**9)
    assert below.value.code == "amount_below_minimum"
