"""The sandbox's fees (CONTRACT.md section 3), in integer minor units, rounded half up: no floats anywhere."""

from __future__ import annotations

CARD_RATE_PER_MILLE = 29  # 2.9 %
CARD_FIXED = 30
ECHECK_RATE_PER_MILLE = 8  # 0.8 %
ECHECK_CAP = 500
DISPUTE_FEE = 1500  # given back when the dispute is won


def processing_fee(method: str, amount: int) -> int:
    if method == "card":
        return _per_mille_half_up(amount, CARD_RATE_PER_MILLE) + CARD_FIXED
    if method == "echeck":
        return min(_per_mille_half_up(amount, ECHECK_RATE_PER_MILLE), ECHECK_CAP)
    raise ValueError(f"unknown method {method!r}")


def _per_mille_half_up(amount: int, per_mille: int) -> int:
    if amount < 0:
        raise ValueError("a fee is computed on a positive amount")
    return (amount * per_mille + 500) // 1000
