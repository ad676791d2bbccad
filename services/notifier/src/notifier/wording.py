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


# ACH return codes as the client's bank would put it: "the client's bank says <phrase> (R01)".
_RETURNS: dict[str, str] = {
    "R01": "the account has insufficient funds",
    "R02": "the account is closed",
    "R03": "there is no account with that number, or the name does not match it",
    "R04": "the account number is not valid",
    "R05": "a consumer account was debited as if it were a business account, without authorization",
    "R06": "the bank that sent the debit asked for it back",
    "R07": "the account holder revoked the authorization",
    "R08": "the account holder stopped this payment",
    "R09": "the funds were not yet available in the account",
    "R10": "the account holder says they did not authorize this debit",
    "R11": "the account holder says the debit did not match what they authorized",
    "R12": "the account was sold to another bank",
    "R14": "the account holder has died",
    "R15": "the beneficiary has died",
    "R16": "the account is frozen",
    "R20": "the account cannot take debits of this kind",
    "R23": "the account holder refused the payment",
    "R24": "the payment is a duplicate",
    "R29": "the business account holder says they did not authorize this debit",
}

# Card dispute reasons as the card networks (and processors) name them.
_DISPUTE_REASONS: dict[str, str] = {
    "fraudulent": "the cardholder says they did not make this payment",
    "unrecognized": "the cardholder does not recognize this payment",
    "duplicate": "the cardholder says they were charged twice",
    "product_not_received": "the cardholder says they did not receive what they paid for",
    "product_unacceptable": "the cardholder says what they paid for was not as described",
    "subscription_canceled": "the cardholder says they had cancelled",
    "credit_not_processed": "the cardholder says a promised refund was not made",
    "general": "the cardholder disputes this payment",
}


def return_sentence(code: str) -> str:
    """ "the client's bank says the account has insufficient funds (R01)"; an unknown code is quoted."""
    phrase = _RETURNS.get(code)
    if phrase is None:
        return f"the client's bank returned the payment with code {one_line(code, 20)}"
    return f"the client's bank says {phrase} ({code})"


def dispute_reason(reason: str) -> str:
    return _DISPUTE_REASONS.get(reason, f"the cardholder's bank gave the reason “{one_line(reason, 60)}”")


def format_day(moment: datetime) -> str:
    """A date in words, with its weekday: "Wednesday, December 16, 2026" (UTC)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%A}, {utc:%B} {utc.day}, {utc:%Y}"
