"""Money as people read it, from integer minor units: one place for every service's pages, emails and
messages. Integer arithmetic only (no float ever touches an amount); the number of decimals is the
currency's ISO 4217 minor-unit exponent: 12500 USD -> "$125.00", 5000 JPY -> "5,000 JPY",
1234 KWD -> "1.234 KWD".
"""

from __future__ import annotations

# ISO 4217 currencies whose minor unit is not 1/100 (the exponent is 2 for every other code).
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
# Currencies shown with a symbol before the amount; every other one by its code after it.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$"}


def exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (ISO 4217)."""
    return _EXPONENTS.get(currency, 2)


def amount_text(minor_units: int, currency: str, *, grouping: bool = True) -> str:
    """The amount without currency: 123450 USD -> "1,234.50" ("1234.50" without grouping)."""
    places = exponent(currency)
    whole, fraction = divmod(abs(minor_units), 10**places)
    sign = "-" if minor_units < 0 else ""
    text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{text}.{fraction:0{places}d}" if places else f"{sign}{text}"


def format_money(minor_units: int, currency: str) -> str:
    """The amount as a person writes it: "$125.00", "€1,234,567.89", "5,000 JPY", "9.99 CHF"."""
    symbol = _SYMBOLS.get(currency)
    if symbol is None:
        return f"{amount_text(minor_units, currency)} {currency}"
    sign = "-" if minor_units < 0 else ""
    return f"{sign}{symbol}{amount_text(abs(minor_units), currency)}"
