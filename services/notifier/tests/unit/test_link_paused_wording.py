"""The staff email of a pay link paused after a burst of declined cards (issue 18): what it names, what it
says staff can do, what it never shows, and what it waits for (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.email_outbox import STAFF
from notifier.emails import compose_email, still_missing, subject_of
from notifier.link_pause_notices import minutes
from notifier.notices import Context
from notifier.rendering import render
from paylinks_events import LinkPaused

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
FIRM = "Hale & Partners LLP"


def paused(bill_id: str | None = None, declines: int = 6) -> LinkPaused:
    return LinkPaused(
        firm_id="firm-1",
        link_id="link-7",
        bank_account_id="ba-1",
        bill_id=bill_id,
        declines=declines,
        window_seconds=600,
        paused_at=AT,
        paused_until=AT + timedelta(minutes=15),
    )


def no_link(firm_id: str, payment_id: str) -> str:
    raise AssertionError("a paused link's email has no button")


def email_of(event: LinkPaused, ctx: Context) -> tuple[str, str, str]:
    subject = subject_of("LinkPaused", event.to_data(), event.schema_version)
    body = render(compose_email(subject, ctx, no_link, STAFF))
    return body.subject, body.text, body.html


def test_a_paused_account_link_names_the_firm_the_account_the_pause_and_what_to_do() -> None:
    subject, text, html = email_of(paused(), Context(bank_account_name="IOLTA Trust", firm_name=FIRM))
    assert subject == "Pay link paused: IOLTA Trust — 6 declined cards in 10 minutes"
    assert (
        "Payments through the pay link of IOLTA Trust (Hale & Partners LLP) were paused for 15 minutes after "
        "6 declined cards within 10 minutes. This is likely card testing" in text
    )
    for shown in (FIRM, "Paused until:  Dec 2, 2026 at 14:20 UTC", "link-7", "No money was taken"):
        assert shown in text
    assert "try again after that time or to pay by eCheck" in text
    assert "Hale &amp; Partners LLP" in html  # escaped like every HTML part


def test_a_paused_bill_link_names_the_bill_by_its_number() -> None:
    ctx = Context(bank_account_name="Operating", bill_known=True, bill_number="INV-2026-0042", firm_name=FIRM)
    subject, text, _ = email_of(paused(bill_id="bill-9"), ctx)
    assert subject == "Pay link paused: bill INV-2026-0042 — 6 declined cards in 10 minutes"
    assert "Payments through the pay link for bill INV-2026-0042 (Hale & Partners LLP)" in text
    assert "bill INV-2026-0042 (paid into Operating)" in text


def test_it_shows_no_card_data_nor_a_pay_token() -> None:
    subject, text, html = email_of(paused(), Context(bank_account_name="IOLTA Trust", firm_name=FIRM))
    for secret in ("4000", "4242", "pm_", "/pay/", "token", "cvc"):
        assert secret not in (subject + text + html).lower()


def test_it_waits_for_the_account_and_bill_names_only_and_falls_back_to_ids() -> None:
    assert still_missing(paused(), Context(), STAFF) == ["bank account"]
    assert still_missing(paused(bill_id="bill-9"), Context(), STAFF) == ["bank account", "bill"]
    assert still_missing(paused(), Context(bank_account_name="IOLTA Trust"), STAFF) == []
    subject, text, _ = email_of(paused(bill_id="bill-9", declines=1), Context())
    assert subject == "Pay link paused: bill bill-9 — 1 declined card in 10 minutes"
    assert "bank account ba-1" in text
    assert "firm firm-1" in text


@pytest.mark.parametrize(
    ("seconds", "words"), [(900, "15 minutes"), (60, "1 minute"), (30, "1 minute"), (601, "11 minutes")]
)
def test_minutes_are_rounded_up(seconds: int, words: str) -> None:
    assert minutes(timedelta(seconds=seconds)) == words
