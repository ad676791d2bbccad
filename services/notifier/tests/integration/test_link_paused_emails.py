"""A pay link paused after a burst of declined cards (LinkPaused, issue 18) is told to the staff of its
bank account, through the real consumer, outbox, sender and SMTP server: once per event, whatever the
redelivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from paylinks_events import LinkPaused


def paused(firm_id: str, link_id: str, bank_account_id: str, at: datetime) -> LinkPaused:
    return LinkPaused(
        firm_id=firm_id,
        link_id=link_id,
        bank_account_id=bank_account_id,
        declines=6,
        window_seconds=600,
        paused_at=at,
        paused_until=at + timedelta(minutes=15),
    )


async def test_a_paused_link_is_emailed_once_to_its_accounts_recipients(firm) -> None:
    account = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients("partners")  # the firm's group: the account's group is more specific
    await firm.set_recipients("trust-desk", bank_account_id=account)
    link_id, now = str(uuid.uuid4()), datetime.now(UTC)
    [first] = await firm.publish(paused(firm.firm_id, link_id, account, now))
    await firm.publish(first, first)  # redelivered: the same ce_id twice more
    # A later pause of the same link (same key, so the same partition, consumed after the redeliveries): once
    # its email is out, the redeliveries were consumed too.
    [later] = await firm.publish(paused(firm.firm_id, link_id, account, now + timedelta(minutes=20)))

    mail = await firm.wait_for_mail(2, who="trust-desk")
    assert [firm.subject(m) for m in mail] == [
        "Pay link paused: IOLTA Trust — 6 declined cards in 10 minutes"
    ] * 2
    text = firm.text(mail[0])
    assert firm.display_name in text
    assert "were paused for 15 minutes after 6 declined cards within 10 minutes" in text
    assert "likely card testing" in text
    rows = await firm.sent_emails(link_id)
    assert sorted(r["event_id"] for r in rows) == sorted([first.id, later.id])
    assert {(r["status"], r["recipient_group"]) for r in rows} == {("sent", f"bank_account:{account}")}
    assert len(firm.mail("trust-desk")) == 2
    assert firm.mail("partners") == []
