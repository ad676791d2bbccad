"""What a test card number or bank account selects (CONTRACT.md section 3, "Sandbox outcomes").

Only the scenario is kept with a token: the number that chose it is forgotten at tokenization.
"""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    CARD_OK = "card_ok"  # processed after SANDBOX_CARD_SETTLE_SECONDS
    CARD_DECLINED = "card_declined"  # 402 at charge time, nothing recorded
    CARD_DISPUTE_LOST = "card_dispute_lost"  # processed, disputed, then lost
    ECHECK_OK = "echeck_ok"  # processed after SANDBOX_ECHECK_SETTLE_SECONDS
    ECHECK_R01 = "echeck_r01"  # failed with R01 (insufficient funds)
    ECHECK_R10 = "echeck_r10"  # processed, then returned with R10 (unauthorised)


DECLINED_CARD = "4000000000000002"
DISPUTED_CARD = "4000000000000259"
R01_ACCOUNT = "000111111113"
R10_ACCOUNT = "000222222227"

_CARDS = {DECLINED_CARD: Scenario.CARD_DECLINED, DISPUTED_CARD: Scenario.CARD_DISPUTE_LOST}
_ACCOUNTS = {R01_ACCOUNT: Scenario.ECHECK_R01, R10_ACCOUNT: Scenario.ECHECK_R10}

# What a failing eCheck reports, by scenario.
FAILURE_REASONS = {Scenario.ECHECK_R01: "R01"}
RETURN_REASONS = {Scenario.ECHECK_R10: "R10"}


def card_scenario(number: str) -> Scenario:
    """Any other valid card number (4242424242424242 among them) is processed."""
    return _CARDS.get(number, Scenario.CARD_OK)


def bank_scenario(account_number: str) -> Scenario:
    """Any other valid account number (000123456789 among them) is processed."""
    return _ACCOUNTS.get(account_number, Scenario.ECHECK_OK)
