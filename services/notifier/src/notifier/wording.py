"""How facts read in an email: money, payment methods and channels, times, and payment failure reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from paylinks_events.currencies import EXPONENTS

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$"}

_SOURCES = {
    "bank_account_link": "Bank account payment link",
    "bill_link": "Bill payment link",
    "qr_code": "QR code",
    "other": "Other channel",
}

# (short label for a subject line, the sentence a person reads)
_FAILURES: dict[str, tuple[str, str]] = {
    "R01": (
        "insufficient funds",
        "The payer's bank returned the eCheck: there was not enough money in the account.",
    ),
    "R02": ("account closed", "The payer's bank returned the eCheck: the account has been closed."),
    "R03": ("no account found", "The payer's bank returned the eCheck: no account matches the number given."),
    "R04": (
        "invalid account number",
        "The payer's bank returned the eCheck: the account number is not valid.",
    ),
    "R05": (
        "unauthorized debit",
        "The payer's bank returned the eCheck: a consumer account was debited without proper authorization.",
    ),
    "R06": ("returned by the sending bank", "The eCheck was returned at the request of the sending bank."),
    "R07": ("authorization revoked", "The payer withdrew their permission for this eCheck debit."),
    "R08": ("payment stopped", "The payer asked their bank to stop this payment."),
    "R09": ("uncollected funds", "The payer's bank returned the eCheck: the funds were not yet available."),
    "R10": ("not authorized by payer", "The payer told their bank they did not authorize this payment."),
    "card_declined": ("card declined", "The card issuer declined the charge."),
}


def format_money(amount: int, currency: str) -> str:
    """Minor units as a person reads them: 12500 USD -> "$125.00", 5000 JPY -> "5,000 JPY"."""
    digits = EXPONENTS.get(currency, 2)
    value = f"{Decimal(amount).scaleb(-digits):,.{digits}f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency}"


def describe_method(method: str, card_brand: str | None = None, last4: str | None = None) -> str:
    if method == "echeck":
        return "eCheck (ACH)"
    if method == "card":
        instrument = " ".join(part for part in (card_brand, f"ending {last4}" if last4 else None) if part)
        return f"Card ({instrument})" if instrument else "Card"
    return method


def describe_source(source: str) -> str:
    return _SOURCES.get(source, source)


def format_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%b} {utc.day}, {utc:%Y} at {utc:%H:%M} UTC"


def failure_label(reason: str) -> str:
    """A few words for a subject line: "insufficient funds (R01)"."""
    known = _FAILURES.get(reason)
    if known is None:
        return one_line(reason, 40)
    return f"{known[0]} ({reason})" if reason.startswith("R") else known[0]


def failure_sentence(reason: str) -> str:
    known = _FAILURES.get(reason)
    return known[1] if known else f"The payment processor reported: {one_line(reason, 200)}."


def one_line(text: str, limit: int = 60) -> str:
    """Text fit for a header: whitespace (newlines included) collapsed, cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
