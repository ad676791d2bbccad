"""Money as the contract counts it: integer minor units of an ISO 4217 currency, whose exponent says where the
decimal point goes (12500 USD = $125.00, 5000 JPY = ¥5,000, 1500 KWD = 1.500 KWD). Never a fixed 100."""

from __future__ import annotations

from decimal import Decimal

from .currencies import exponent

# The symbols a US-English reader knows without a code; every other currency shows its code after the amount.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$"}


def affixes(currency: str) -> tuple[str, str]:
    """(prefix, suffix) around the number: ("$", "") for USD, ("", " CHF") for a currency without a symbol."""
    symbol = _SYMBOLS.get(currency)
    return (symbol, "") if symbol else ("", f" {currency}")


def plain_amount(minor_units: int, currency: str) -> str:
    """The amount as a person types it (and a CSV carries it), no symbol nor grouping, sign first:
    80000 USD -> "800.00", 5000 JPY -> "5000", -1050 USD -> "-10.50"."""
    digits = exponent(currency)
    return f"{Decimal(minor_units).scaleb(-digits):.{digits}f}"


def format_money(minor_units: int, currency: str) -> str:
    """As a person reads it: 12500 USD -> "$125.00", 5000 JPY -> "¥5,000", 1500 CHF -> "15.00 CHF"."""
    digits = exponent(currency)
    prefix, suffix = affixes(currency)
    sign = "-" if minor_units < 0 else ""
    return f"{sign}{prefix}{Decimal(abs(minor_units)).scaleb(-digits):,.{digits}f}{suffix}"
