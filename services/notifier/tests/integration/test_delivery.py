"""Exactly one email per event: redelivery, SMTP outages, and nobody to send to."""

from __future__ import annotations

from collections import Counter

from paylinks_runtime.testing import eventually


async def test_the_same_event_delivered_three_times_is_one_email(firm) -> None:
    account = await firm.bank_account()
    await firm.set_recipients()
    payment = firm.received(account)
    [envelope] = await firm.publish(payment)
    await firm.publish(envelope, envelope)  # same ce_id, three records on the topic
    await firm.publish(
        firm.processed(payment)
    )  # same partition, after them: once mailed, all three were read

    mail = await firm.wait_for_mail(2)
    received = [m for m in mail if firm.subject(m).startswith("Payment received:")]
    assert len(received) == 1

    rows = await firm.sent_emails(payment.payment_id)
    assert [r["event_id"] for r in rows].count(envelope.id) == 1
    assert all(r["attempts"] == 1 for r in rows)


async def test_smtp_down_for_a_while_then_every_email_arrives_once(firm, sink) -> None:
    account = await firm.bank_account()
    await firm.set_recipients()
    payment = firm.received(account)
    sink.stop()
    try:
        await firm.publish(payment, firm.processed(payment))

        async def both_failed_twice() -> bool:
            rows = await firm.emails(payment.payment_id)
            return len(rows) == 2 and all(r["attempts"] >= 2 and r["status"] == "pending" for r in rows)

        await eventually(both_failed_twice, timeout=30)
        rows = await firm.emails(payment.payment_id)
        assert all("Connect" in (r["last_error"] or "") for r in rows), rows
    finally:
        sink.start()

    mail = await firm.wait_for_mail(2)
    assert len(mail) == 2
    assert Counter(m["message-id"] for m in mail).most_common(1)[0][1] == 1

    await firm.sent_emails(payment.payment_id)
    assert len(firm.mail()) == 2


async def test_one_refused_message_does_not_hold_up_another_firms_mail(firm, sink, firm_factory) -> None:
    account = await firm.bank_account()
    await firm.set_recipients("refuse-me")
    other = firm_factory()
    other_account = await other.bank_account()
    await other.set_recipients()
    stuck = firm.received(account)
    sink.refuse(firm.address("refuse-me"))
    try:
        await firm.publish(stuck)

        async def refused_twice() -> bool:
            rows = await firm.emails(stuck.payment_id)
            return len(rows) == 1 and rows[0]["attempts"] >= 2

        await eventually(refused_twice, timeout=30)
        await other.publish(other.received(other_account))
        await other.wait_for_mail(1)
    finally:
        sink.refuse(None)
    await firm.wait_for_mail(1, who="refuse-me")


async def test_no_recipients_records_the_email_as_skipped(firm) -> None:
    account = await firm.bank_account()
    payment = firm.received(account)
    await firm.publish(payment)

    async def skipped() -> list:
        return [r for r in await firm.emails(payment.payment_id) if r["status"] == "skipped"]

    [row] = await eventually(skipped)
    assert row["skip_reason"] == "no recipients configured"
    assert row["recipients"] == []
    assert row["event_id"]
    assert row["sent_at"] is None
