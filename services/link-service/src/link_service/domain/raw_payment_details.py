"""Card and bank numbers must never reach link-service: the payer's browser sends them to the processor,
and posts only its token here. This spots a request body that carries them anyway, so it is refused
before anything parses, stores or logs it."""

from __future__ import annotations

import re

from paylinks_runtime.card_numbers import luhn_valid

# Fields that only ever hold raw payment details, wherever they appear in a body.
RAW_FIELDS = frozenset(
    {
        "card",
        "bank",
        "us_bank_account",
        "card_number",
        "number",
        "cvc",
        "cvv",
        "routing_number",
        "account_number",
    }
)
# 12 to 19 digits, maybe grouped by spaces or dashes as people type them, standing as a word of their own:
# digits glued to letters or an underscore are part of an id (a processor token `pm_<32 hex>` holds a run of
# twelve or more digits about once in 35 tokens, a Luhn-valid one once in 350), not a number someone typed.
_DIGIT_RUN = re.compile(r"(?<![\w])\d(?:[ -]?\d){11,18}(?![\w])")
# A UUID (an Idempotency-Key, a reference a system pasted) is an id: its dashed groups of digits are no card.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def holds_card_number(text: str) -> bool:
    """True when the text contains a 12-19 digit, Luhn-valid number (spaces or dashes between digits) that
    stands on its own, outside a UUID."""
    runs = _DIGIT_RUN.findall(_UUID.sub(" ", text))
    return any(luhn_valid(re.sub(r"[ -]", "", run)) for run in runs)


def carries_raw_payment_details(body: object) -> bool:
    """A card/bank field anywhere in the body, or any string holding a card number."""
    if isinstance(body, dict):
        return any(
            str(name).lower() in RAW_FIELDS or carries_raw_payment_details(value)
            for name, value in body.items()
        )
    if isinstance(body, list):
        return any(carries_raw_payment_details(item) for item in body)
    return isinstance(body, str) and holds_card_number(body)
