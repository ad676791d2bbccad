from datetime import datetime, timedelta, timezone

import pytest

from notifier.wording import (
    describe_method,
    failure_label,
    failure_sentence,
    format_time,
    one_line,
)
from paylinks_events.money import format_money

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12500, "USD", "$125.00"),
        (5, "USD", "$0.05"),
        (123456789, "EUR", "€1,234,567.89"),
        (5000, "JPY", "¥5,000"),
        (999, "CHF", "9.99 CHF"),
    ],
)
def test_money_reads_as_a_person_writes_it(amount: int, currency: str, expected: str) -> None:
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize("code", [f"R{n:02d}" for n in range(1, 11)] + ["card_declined"])
def test_every_common_return_code_has_its_own_sentence(code: str) -> None:
    sentence = failure_sentence(code)
    assert sentence.endswith(".")
    assert "processor reported" not in sentence
    assert code not in sentence  # words, not the code


def test_return_codes_are_told_apart() -> None:
    sentences = {failure_sentence(f"R{n:02d}") for n in range(1, 11)}
    assert len(sentences) == 10
    assert "not enough money" in failure_sentence("R01")
    assert failure_label("R01") == "insufficient funds (R01)"
    assert failure_label("card_declined") == "card declined"


def test_an_unknown_reason_is_reported_verbatim() -> None:
    assert failure_sentence("R99") == "The payment processor reported: R99."
    assert failure_label("weird\nreason") == "weird reason"


def test_methods_show_brand_and_last_four_at_most() -> None:
    assert describe_method("card", "Visa", "4242") == "Card (Visa ending 4242)"
    assert describe_method("card") == "Card"
    assert describe_method("echeck") == "eCheck (ACH)"


def test_times_are_shown_in_utc() -> None:
    moment = datetime(2026, 11, 3, 9, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert format_time(moment) == "Nov 3, 2026 at 14:05 UTC"


def test_one_line_removes_line_breaks_and_cuts_long_text() -> None:
    assert one_line("Dana\r\nBcc: x@evil.com") == "Dana Bcc: x@evil.com"
    assert one_line("x" * 100, 10) == "x" * 9 + "…"
