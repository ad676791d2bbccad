"""What the suites' card-data scans take for a leak (paylinks_runtime.card_data), and what they must not: a
scan of a long run reads thousands of amounts, fees, timestamps and ids."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paylinks_runtime.card_data import (
    CVC,
    LEAK,
    OK_ACCOUNT,
    OK_CARD,
    ROUTING,
    SECRETS,
    card_data_in,
    masked,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    [
        f'{{"number": "{OK_CARD}"}}',
        f"card {OK_CARD}, exp 12/29",
        f"{{'cvc': '{CVC}'}}",
        f'"security_code": "{CVC}"',
        f"CVC {CVC}.",
        '{"card_cvc": 1}',
        "card_cvc=1&x=2",
        f"routing {ROUTING} account {OK_ACCOUNT}",
        f"{OK_ACCOUNT} | 41.00",
    ],
)
def test_a_test_number_or_a_cvc_field_standing_alone_is_found(text: str) -> None:
    assert card_data_in(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"last4": "4242", "brand": "visa"}',
        f"pm_{OK_CARD}",  # part of an id
        f"{OK_CARD}1",  # part of a longer number
        f"ab{CVC}cd-{CVC}-ef",  # inside a hex digest or a UUID
        f'"amount": 2{CVC}61, "fee": 6043',
        f"Payment received: $2,{CVC}.61 from Chaos Payer",  # an amount with a thousands separator
        f'"duration": 0.{CVC}, "timestamp": "2026-12-02T15:01:48.{CVC}149Z"',
        "pay/AbcvcDef",  # the letters inside a random link token
    ],
)
def test_amounts_ids_timestamps_and_tokens_are_not_taken_for_card_data(text: str) -> None:
    assert card_data_in(text) == []


def test_a_failure_message_masks_the_numbers() -> None:
    assert masked(f"card {OK_CARD} routing {ROUTING}") == "card <SECRET> routing <SECRET>"


# The rule as first written, a pattern per number (ten leading lookbehinds, ~9x slower): what the one
# pattern must still find, number for number, wherever the text puts separators, digits and letters.
_PER_NUMBER = [
    re.compile(rf"(?<![\w{'.,' if number == CVC else ''}-]){number}(?![\w-])") for number in SECRETS
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*SECRETS, "0", "7", "a", "Z", "_", "-", ".", ",", " ", '"', "é"]), max_size=12)
)
def test_the_one_pattern_finds_what_a_pattern_per_number_finds(pieces: list[str]) -> None:
    text = "".join(pieces)
    expected = sorted({m.group(0) for pattern in _PER_NUMBER for m in pattern.finditer(text)})
    assert sorted(set(LEAK.findall(text))) == expected
