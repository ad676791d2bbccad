"""Money as people read it: integer minor units shown as a decimal in the currency's own units (ISO 4217
exponent: 12500 USD = "125.00", 5000 JPY = "5000", 1500 KWD = "1.500").
Integer arithmetic only, never /100."""

from __future__ import annotations

# ISO 4217 currencies whose minor unit is not the cent (exponent 2, the default).
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
            "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    return _EXPONENTS.get(currency.upper(), 2)


def decimal_amount(minor_units: int, currency: str) -> str:
    """The amount as a plain decimal in the currency's units, sign first, no grouping: "-1234.50"."""
    places = exponent(currency)
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}" if places else f"{sign}{whole}"


def exponents() -> dict[str, int]:
    """Every currency whose exponent is not 2, with its exponent (for SQL that reads amounts per currency)."""
    return dict(_EXPONENTS)
