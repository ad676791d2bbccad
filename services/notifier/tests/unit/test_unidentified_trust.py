"""Business days and the unidentified-trust reminder's words (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.notices import Context, PaymentFacts
from notifier.rendering import render
from notifier.unidentified_trust import (
    UnidentifiedTrustPayment,
    add_business_days,
    compose_reminder,
    reminder_due,
)

pytestmark = pytest.mark.unit

MON = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (MON, 3, datetime(2026, 12, 3, 15, 0, tzinfo=UTC)),  # Monday -> Thursday
        (datetime(2026, 12, 3, 15, 0, tzinfo=UTC), 3, datetime(2026, 12, 8, 15, 0, tzinfo=UTC)),  # Thu -> Tue
        (
            datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
            1,
            datetime(2026, 12, 8, 0, 0, tzinfo=UTC),
        ),  # Sat -> Tue 0:00
        (datetime(2026, 12, 4, 23, 0, tzinfo=UTC), 1, datetime(2026, 12, 7, 23, 0, tzinfo=UTC)),  # Fri -> Mon
    ],
)
def test_business_days_skip_weekends(start: datetime, days: int, expected: datetime) -> None:
    assert add_business_days(start, days) == expected


def test_a_reminder_is_due_once_the_business_days_have_passed() -> None:
    assert not reminder_due(MON, 3, datetime(2026, 12, 3, 14, 59, tzinfo=UTC))
    assert reminder_due(MON, 3, datetime(2026, 12, 3, 15, 0, tzinfo=UTC))


def test_the_reminder_names_the_firm_money_and_offers_the_link_page() -> None:
    payment = UnidentifiedTrustPayment("f1", "p1", "ba-1", 250000, "USD", MON, 3)
    assert UnidentifiedTrustPayment.from_data(payment.as_data()) == payment
    ctx = Context(
        payment=PaymentFacts("Dana Client", "echeck", 250000, "USD", "ba-1", None),
        bank_account_name="IOLTA Trust",
        firm_name="Hale & Partners LLP",
    )
    notice = compose_reminder(payment, ctx, lambda f, p: f"https://recon.example/payments/{p}/link")
    assert (
        notice.subject == "Unidentified trust money: $2,500.00 from Dana Client unlinked for 3 business days"
    )
    assert notice.details[0] == ("Firm", "Hale & Partners LLP")
    assert notice.action is not None
    assert notice.action.url == "https://recon.example/payments/p1/link"
    assert "IOLTA Trust" in render(notice).text
