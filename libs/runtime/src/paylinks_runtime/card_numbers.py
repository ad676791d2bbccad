"""The check digit every card number carries (ISO/IEC 7812 Luhn), shared by the processor sandbox, which
validates what a payer's browser tokenizes, and link-service, which spots card numbers that must not
reach it."""

from __future__ import annotations


def luhn_valid(number: str) -> bool:
    """True when `number` is all digits and its last digit is the Luhn check digit of the rest."""
    if not number.isdigit():
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0
