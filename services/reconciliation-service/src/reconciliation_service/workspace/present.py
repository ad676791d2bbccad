"""Pure presentation of the read model for people: money by its currency's exponent, times in the staff
member's zone, waiting times in words, and the status tags of a payment."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paylinks_events.money import format_money

# Every tag the list filters on, with the words shown for it (the keys are the `status` filter's values).
TAGS = {
    "pending": "pending",
    "ready": "ready",
    "linked": "linked",
    "refunded": "refunded",
    "partially_refunded": "partially refunded",
    "disputed": "disputed",
    "chargeback": "chargeback (lost)",
    "returned": "returned",
    "failed": "failed",
}

# The history's event types in words.
EVENTS = {
    "PaymentReceived": "Payment received",
    "PaymentProcessed": "Payment processed",
    "PaymentFailed": "Payment failed",
    "PaymentUnallocated": "Not applied to the bill",
    "PaymentLinked": "Linked",
    "PaymentUnlinked": "Unlinked",
    "PaymentReturned": "Returned by the bank",
    "RefundRequested": "Refund requested",
    "RefundSucceeded": "Refunded",
    "RefundFailed": "Refund failed",
    "PaymentDisputed": "Disputed by the payer",
    "DisputeClosed": "Dispute closed",
    "FeeCharged": "Fee charged",
    "PayoutPaid": "Paid out",
    "BillPaymentApplied": "Applied to the bill",
    "BillPaymentReversed": "Taken back from the bill",
}


def zone(name: str | None) -> tzinfo:
    """The IANA zone by name, UTC when none or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_name(tz: tzinfo) -> str:
    return "UTC" if tz is UTC else str(tz)


def money(amount: int | None, currency: str | None) -> str:
    """12345600 USD -> "$123,456.00" (paylinks_events.money); "unknown" before the amount is known."""
    if amount is None or currency is None:
        return "unknown"
    return format_money(amount, currency)


def local_time(at: datetime | None, tz: tzinfo) -> str:
    """ "Tue 1 Dec 2026, 14:03" in the zone (whole minutes: nobody reads microseconds)."""
    if at is None:
        return "not yet"
    local = at.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def day(on: date | None) -> str:
    """ "Wed 2 Dec 2026": a calendar day (a deposit's arrival) in words."""
    if on is None:
        return "not yet"
    return f"{on:%a} {on.day} {on:%b %Y}"


def waiting(seconds: int | None) -> str:
    """How long a payment has waited, in the largest whole unit: "3 days", "5 hours", "under a minute"."""
    if seconds is None:
        return ""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "under a minute"


def tags(payment: dict[str, Any]) -> list[str]:
    """The tag keys that describe the payment now, most important first."""
    found = [payment["status"]]  # pending, ready, linked or failed
    amount, refunded = payment["amount"] or 0, payment["refunded_amount"] or 0
    if refunded and refunded >= amount:
        found.append("refunded")
    elif refunded:
        found.append("partially_refunded")
    dispute = payment["dispute"]
    if dispute is not None and dispute["status"] == "open":
        found.append("disputed")
    elif dispute is not None and dispute["status"] == "lost":
        found.append("chargeback")
    if payment["returned"] is not None:
        found.append("returned")
    return found


def minor_units(text: str, places: int) -> int | None:
    """ "1,250.5" typed in a form -> 125050 (places = the currency's exponent); None if it is not money."""
    cleaned = text.strip().replace(",", "").removeprefix("$").strip()
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() and not (whole == "" and fraction):
        return None
    if (fraction and not fraction.isdigit()) or len(fraction) > places:
        return None
    scale: int = 10**places
    return int(whole or "0") * scale + int(fraction.ljust(places, "0") or "0")
