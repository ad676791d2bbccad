"""The workspace's presentation: money by ISO 4217 exponent, money typed in a form, tags, waiting, zones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from reconciliation_service.workspace import present


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(12345600, "USD", "$123,456.00"), (-2050, "USD", "-$20.50"), (5000, "JPY", "¥5,000"),
     (1500, "KWD", "1.500 KWD"), (5, "USD", "$0.05"), (None, "USD", "unknown")],
)  # fmt: skip
def test_money_is_shown_by_the_currencys_exponent(amount: int | None, currency: str, shown: str) -> None:
    assert present.money(amount, currency) == shown


@pytest.mark.parametrize(
    ("typed", "places", "minor"),
    [("20.50", 2, 2050), ("1,250.5", 2, 125050), ("$3", 2, 300), (".5", 2, 50), ("12", 0, 12),
     ("1.5", 3, 1500), ("12.345", 2, None), ("1.5", 0, None), ("-3", 2, None), ("ten", 2, None),
     ("", 2, None), ("1e3", 2, None), ("1.2.3", 2, None)],
)  # fmt: skip
def test_money_typed_in_a_form(typed: str, places: int, minor: int | None) -> None:
    assert present.minor_units(typed, places) == minor


def payment(**fields: Any) -> dict[str, Any]:
    return {
        "status": "linked",
        "amount": 10000,
        "refunded_amount": 0,
        "dispute": None,
        "returned": None,
    } | fields


def test_tags_name_everything_that_happened_to_the_money() -> None:
    assert present.tags(payment()) == ["linked"]
    assert present.tags(payment(refunded_amount=2000)) == ["linked", "partially_refunded"]
    assert present.tags(payment(refunded_amount=10000)) == ["linked", "refunded"]
    assert present.tags(payment(status="ready", dispute={"status": "open"})) == ["ready", "disputed"]
    assert present.tags(payment(dispute={"status": "lost"})) == ["linked", "chargeback"]
    assert present.tags(payment(dispute={"status": "won"})) == ["linked"]
    assert present.tags(payment(returned={"amount": 10000})) == ["linked", "returned"]
    assert set(present.TAGS) >= {t for p in (payment(status="failed"),) for t in present.tags(p)}


def test_waiting_in_the_largest_whole_unit() -> None:
    assert [present.waiting(s) for s in (None, 5, 60, 7199, 86400, 3 * 86400 + 5)] == [
        "", "under a minute", "1 minute", "1 hour", "1 day", "3 days",
    ]  # fmt: skip


def test_times_in_the_staff_members_zone_unknown_zones_are_utc() -> None:
    at = datetime(2026, 12, 2, 7, 45, 12, 123456, tzinfo=UTC)
    assert present.local_time(at, present.zone("America/New_York")) == "Wed 2 Dec 2026, 02:45"
    assert present.local_time(at, present.zone("Not/AZone")) == "Wed 2 Dec 2026, 07:45"
    assert present.zone("../../etc/passwd") is UTC
    assert present.zone_name(present.zone(None)) == "UTC"
    assert present.local_time(None, UTC) == "not yet"


def test_days_in_words() -> None:
    assert present.day(date(2026, 12, 2)) == "Wed 2 Dec 2026"
    assert present.day(None) == "not yet"
