import pytest

from processor_sandbox.fees import DISPUTE_FEE, processing_fee

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (1, 30),  # 0.029 rounds to 0
        (17, 30),  # 0.493 rounds down
        (18, 31),  # 0.522 rounds up
        (500, 45),  # 14.5 exactly: half rounds up
        (1500, 74),  # 43.5 exactly: half rounds up
        (10000, 320),
        (12500, 393),  # 362.5: half up
        (2_500_000, 72_530),
    ],
)
def test_card_fee_is_2_9_percent_plus_30_rounded_half_up(amount: int, fee: int) -> None:
    assert processing_fee("card", amount) == fee


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (1, 0),
        (62, 0),  # 0.496 rounds down
        (63, 1),  # 0.504 rounds up
        (6250, 50),  # exactly 50
        (187_500, 500),  # 0.8 % would be 1500: capped
        (62_500, 500),  # exactly at the cap
        (62_499, 500),  # 499.992 rounds up to the cap
        (62_437, 499),  # 499.496
        (2_500_000, 500),
    ],
)
def test_echeck_fee_is_0_8_percent_capped_at_500(amount: int, fee: int) -> None:
    assert processing_fee("echeck", amount) == fee


def test_fees_are_integers_for_huge_amounts_where_a_float_would_round_wrong() -> None:
    amount = 10**17 + 500  # beyond a float's exact integers
    assert processing_fee("card", amount) == (amount * 29 + 500) // 1000 + 30
    assert isinstance(processing_fee("card", amount), int)


def test_the_dispute_fee_and_bad_input() -> None:
    assert DISPUTE_FEE == 1500
    with pytest.raises(ValueError, match="unknown method"):
        processing_fee("wire", 100)
    with pytest.raises(ValueError, match="positive amount"):
        processing_fee("card", -1)
