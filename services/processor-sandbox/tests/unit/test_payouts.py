"""Payout arithmetic: one payout per bank account and currency, its amount the sum of its signed lines."""

import pytest

from processor_sandbox.payouts import PayoutLine, group

pytestmark = pytest.mark.unit


def line(
    id_: int, account: str, type_: str, amount: int, currency: str = "USD", firm: str = "f1"
) -> PayoutLine:
    fee_id = "fee_1" if type_ == "fee" else None
    return PayoutLine(id_, firm, account, currency, type_, f"p{id_}", None, fee_id, amount)


def test_lines_are_grouped_per_account_and_summed() -> None:
    lines = [
        line(1, "trust", "payment", 10000),
        line(2, "operating", "fee", -320),
        line(3, "trust", "refund", -2500),
        line(4, "trust", "payment", 5000),
    ]
    payouts = {p.bank_account_id: p for p in group(lines)}
    assert payouts["trust"].amount == 12500
    assert [x.type for x in payouts["trust"].lines] == ["payment", "refund", "payment"]
    assert payouts["operating"].amount == -320  # a debit: fees only


def test_a_payout_can_be_negative() -> None:
    [payout] = group(
        [
            line(1, "trust", "payment", 1000),
            line(2, "trust", "dispute", -1000),
            line(3, "trust", "return", -50),
        ]
    )
    assert payout.amount == -50


def test_currencies_and_firms_never_mix() -> None:
    lines = [
        line(1, "trust", "payment", 100, "USD"),
        line(2, "trust", "payment", 200, "EUR"),
        line(3, "trust", "payment", 300, "USD", firm="f2"),
    ]
    assert sorted((p.firm_id, p.currency, p.amount) for p in group(lines)) == [
        ("f1", "EUR", 200),
        ("f1", "USD", 100),
        ("f2", "USD", 300),
    ]


def test_lines_keep_the_order_they_settled_in_whatever_order_they_came() -> None:
    [payout] = group(
        [line(3, "trust", "payment", 3), line(1, "trust", "payment", 1), line(2, "trust", "payment", 2)]
    )
    assert [x.id for x in payout.lines] == [1, 2, 3]


def test_nothing_to_pay_makes_no_payout() -> None:
    assert group([]) == []


def test_a_line_on_the_wire() -> None:
    assert line(7, "operating", "fee", -320).wire() == {
        "type": "fee",
        "payment_id": "p7",
        "refund_id": None,
        "fee_id": "fee_1",
        "amount": -320,
    }
