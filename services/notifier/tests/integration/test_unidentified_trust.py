"""Unidentified trust money (issue 17): a trust payment unlinked past the firm's business days gets ONE
reminder to the account's recipients, listed in the month-end report; linked or operating ones get none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from paylinks_events import BankAccountRegistered, PaymentLinked, PaymentProcessed, PaymentReceived
from paylinks_runtime.testing import eventually

NOW = datetime.now(UTC)


def processed_days_ago(firm, payment: PaymentReceived, days: int) -> PaymentProcessed:  # type: ignore[no-untyped-def]
    return firm.processed(payment).model_copy(update={"processed_at": NOW - timedelta(days=days)})


async def known(pool, firm_id: str, payment_id: str, query: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(await pool.fetchval(query, firm_id, payment_id))


PROCESSED = "SELECT processed_at IS NOT NULL FROM payments WHERE firm_id = $1 AND payment_id = $2"
LINKED = "SELECT linked FROM payment_links WHERE firm_id = $1 AND payment_id = $2"
APPLIED = "SELECT applied_amount > 0 FROM bill_outcomes WHERE firm_id = $1 AND payment_id = $2"


async def test_one_reminder_for_trust_money_nobody_identified(firm, pool) -> None:
    trust = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    operating = str(uuid.uuid4())
    await firm.publish(
        BankAccountRegistered(
            firm_id=firm.firm_id, bank_account_id=operating, name="Operating", kind="operating"
        )
    )
    linked, in_operating = firm.received(trust), firm.received(operating)
    await firm.publish(
        linked,
        processed_days_ago(firm, linked, 10),
        PaymentLinked(
            payment_id=linked.payment_id, firm_id=firm.firm_id, matter_id="m-1", linked_by="u", linked_at=NOW
        ),
        in_operating,
        processed_days_ago(firm, in_operating, 10),
    )
    bill = firm.bill("INV-9", amount=12500)
    billed = firm.received(trust, bill_id=bill.bill_id, source="bill_link")
    await firm.publish(bill, billed, processed_days_ago(firm, billed, 10), firm.applied(billed, balance=0))
    await eventually(lambda: known(pool, firm.firm_id, linked.payment_id, LINKED))
    await eventually(lambda: known(pool, firm.firm_id, in_operating.payment_id, PROCESSED))
    await eventually(
        lambda: known(pool, firm.firm_id, billed.payment_id, APPLIED)
    )  # its bill names the client

    unidentified = firm.received(trust, amount=250000, method="echeck")
    await firm.publish(unidentified, processed_days_ago(firm, unidentified, 10))

    async def reminders() -> list:
        return [m for m in firm.mail() if firm.subject(m).startswith("Unidentified trust money:")]

    [reminder] = await eventually(reminders, timeout=40)
    assert unidentified.payment_id in firm.text(reminder)
    assert firm.subject(reminder) == (
        "Unidentified trust money: $2,500.00 from Dana Client unlinked for 3 business days"
    )
    assert firm.display_name in firm.text(reminder)
    assert "Link to a client or matter" in firm.html(reminder)

    # A later payment's reminder: every round since the first had its chance to remind again.
    later = firm.received(trust)
    await firm.publish(later, processed_days_ago(firm, later, 10))

    async def two_reminders() -> list:
        report = await firm.client.get(
            "/v1/unidentified-trust-reminders", params={"month": f"{NOW:%Y-%m}"}, headers=firm.staff
        )
        assert report.status_code == 200, report.text
        items = report.json()["items"]
        return items if len(items) == 2 and all(i["email_status"] == "sent" for i in items) else []

    items = await eventually(two_reminders)
    assert {i["payment_id"] for i in items} == {unidentified.payment_id, later.payment_id}
    assert items[0]["bank_account_name"] == "IOLTA Trust"
    assert items[0]["business_days"] == 3
    assert len([m for m in firm.mail() if "Unidentified trust money" in firm.subject(m)]) == 2


async def test_the_reminder_goes_to_the_trust_accounts_own_recipients(firm) -> None:  # type: ignore[no-untyped-def]
    trust = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients("office")  # the firm's group
    await firm.set_recipients("trustdesk", bank_account_id=trust)  # the account's own, which wins
    unidentified = firm.received(trust)
    await firm.publish(unidentified, processed_days_ago(firm, unidentified, 10))

    def reminders(who: str) -> list:  # type: ignore[type-arg]
        return [m for m in firm.mail(who) if firm.subject(m).startswith("Unidentified trust money:")]

    [reminder] = await eventually(lambda: reminders("trustdesk"), timeout=40)
    assert unidentified.payment_id in firm.text(reminder)
    [row] = await firm.sent_emails(unidentified.payment_id, notice="unidentified_trust_reminder")
    assert row["status"] == "sent"
    assert reminders("office") == []


async def test_a_firm_sets_its_own_number_of_business_days(firm, firm_factory, pool) -> None:
    trust = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    put = await firm.client.put(
        "/v1/notification-settings",
        json={"unidentified_trust_reminder_business_days": 30},
        headers=firm.admin,
    )
    assert put.status_code == 200, put.text
    recent, old = firm.received(trust), firm.received(trust)
    await firm.publish(recent, processed_days_ago(firm, recent, 10))  # 10 days: fewer than 30 business days
    await eventually(lambda: known(pool, firm.firm_id, recent.payment_id, PROCESSED))
    await firm.publish(old, processed_days_ago(firm, old, 60))

    async def reminded() -> list:
        response = await firm.client.get(
            "/v1/unidentified-trust-reminders", params={"month": f"{NOW:%Y-%m}"}, headers=firm.staff
        )
        return list(response.json()["items"])

    [item] = await eventually(reminded)
    assert (item["payment_id"], item["business_days"]) == (old.payment_id, 30)
    other = firm_factory()  # another firm sees nothing of it
    response = await other.client.get(
        "/v1/unidentified-trust-reminders", params={"month": f"{NOW:%Y-%m}"}, headers=other.staff
    )
    assert response.json()["items"] == []
    got = await firm.client.get("/v1/notification-settings", headers=firm.staff)
    assert got.json() == {"unidentified_trust_reminder_business_days": 30}


async def test_settings_and_report_refuse_bad_input(firm) -> None:
    for days in (0, 61, "3", 2.5):
        response = await firm.client.put(
            "/v1/notification-settings",
            json={"unidentified_trust_reminder_business_days": days},
            headers=firm.admin,
        )
        assert response.status_code == 422, days
    staff_put = await firm.client.put(
        "/v1/notification-settings", json={"unidentified_trust_reminder_business_days": 5}, headers=firm.staff
    )
    assert staff_put.status_code == 403
    for month in ("2026-13", "2026-1", "december", ""):
        response = await firm.client.get(
            "/v1/unidentified-trust-reminders", params={"month": month}, headers=firm.staff
        )
        assert response.status_code == 422, month


async def test_a_reminder_long_overdue_is_listed_but_not_mailed(firm) -> None:
    trust = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    ancient = firm.received(trust)
    await firm.publish(ancient, processed_days_ago(firm, ancient, 400))  # e.g. a replay of last year

    async def listed() -> list:
        response = await firm.client.get(
            "/v1/unidentified-trust-reminders", params={"month": f"{NOW:%Y-%m}"}, headers=firm.staff
        )
        return list(response.json()["items"])

    [item] = await eventually(listed)
    assert item["email_status"] == "skipped"
    [row] = await firm.emails(ancient.payment_id, notice="unidentified_trust_reminder")
    assert row["skip_reason"].startswith("reminder due long before")
