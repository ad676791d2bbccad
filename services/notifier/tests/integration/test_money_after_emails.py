"""Emails about money after the payment, end to end: returns, refunds and disputes to the account's
recipients, the payer's receipt and refund notice, each once whatever the redelivery, each naming the firm."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from paylinks_events import (
    DisputeClosed,
    PaymentDisputed,
    PaymentReceived,
    PaymentReturned,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)
from paylinks_runtime.testing import eventually

NOW = datetime.now(UTC)


def returned(payment: PaymentReceived, code: str) -> PaymentReturned:
    return PaymentReturned(
        firm_id=payment.firm_id,
        payment_id=payment.payment_id,
        bank_account_id=payment.bank_account_id,
        amount=payment.amount,
        reason=code,
        returned_at=NOW,
    )


def refund_requested(payment: PaymentReceived, amount: int) -> RefundRequested:
    return RefundRequested(
        refund_id=str(uuid.uuid4()),
        payment_id=payment.payment_id,
        firm_id=payment.firm_id,
        bank_account_id=payment.bank_account_id,
        amount=amount,
        reason="client overpaid",
        requested_by="admin-1",
        requested_at=NOW,
    )


def refund_succeeded(requested: RefundRequested) -> RefundSucceeded:
    return RefundSucceeded(
        refund_id=requested.refund_id,
        payment_id=requested.payment_id,
        firm_id=requested.firm_id,
        bank_account_id=requested.bank_account_id,
        amount=requested.amount,
        succeeded_at=NOW,
    )


async def test_a_late_echeck_return_is_told_in_plain_words(firm) -> None:
    account = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    payment = firm.received(account, method="echeck")
    await firm.publish(payment, firm.processed(payment), returned(payment, "R01"))

    mail = await firm.wait_for_mail(3)
    email = firm.one(mail, "Payment returned:")
    assert firm.subject(email) == "Payment returned: $125.00 from Dana Client — insufficient funds (R01)"
    text = firm.text(email)
    assert "the client's bank says the account has insufficient funds (R01)" in text
    assert firm.display_name in text


async def test_a_refund_is_told_to_staff_and_to_the_payer_once(firm) -> None:
    account = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    payment = firm.received(account, card_brand="Visa", last4="4242", reference="MAT-2026-7")
    requested = refund_requested(payment, 2500)
    await firm.publish(payment, firm.processed(payment), requested)
    [succeeded] = await firm.publish(refund_succeeded(requested))
    await firm.publish(succeeded, succeeded)  # redelivered: the same ce_id twice more
    failed_request = refund_requested(payment, 1000)
    failure = RefundFailed(
        refund_id=failed_request.refund_id,
        payment_id=payment.payment_id,
        firm_id=firm.firm_id,
        reason="insufficient processor balance",
        failed_at=NOW,
    )
    await firm.publish(failed_request, failure)

    staff = await firm.wait_for_mail(4)
    issued = firm.one(staff, "Refund issued:")
    assert firm.subject(issued) == "Refund issued: $25.00 to Dana Client — IOLTA Trust"
    assert "client overpaid" in firm.text(issued)
    refused = firm.one(staff, "Refund failed:")
    assert firm.subject(refused) == "Refund failed: $10.00 to Dana Client — insufficient processor balance"

    payer = await firm.wait_for_mail(2, who="payer")
    receipt = firm.one(payer, "Receipt:")
    assert firm.subject(receipt) == f"Receipt: $125.00 paid to {firm.display_name}"
    text = firm.text(receipt)
    assert "Card (Visa ending 4242)" in text
    assert "MAT-2026-7" in text
    assert "IOLTA Trust" not in text  # the firm's accounts are not the payer's business
    notice = firm.one(payer, "Refund from")
    assert "your card ending 4242" in firm.text(notice)

    rows = await firm.emails(payment.payment_id, notice=None)
    assert [r["event_id"] for r in rows].count(succeeded.id) == 2  # one to the staff, one to the payer
    assert len(firm.mail()) == 4
    assert len(firm.mail("payer")) == 2


async def test_the_receipt_of_a_bill_payment_waits_for_the_balance(firm) -> None:
    account = await firm.bank_account("Operating")
    await firm.set_recipients()
    bill = firm.bill("INV-2026-0099", amount=20000)
    payment = firm.received(account, bill_id=bill.bill_id, source="bill_link")
    await firm.publish(bill, payment, firm.processed(payment))

    async def receipt_held() -> bool:
        rows = await firm.emails(payment.payment_id, notice="payer")
        return len(rows) == 1 and rows[0]["status"] == "pending" and rows[0]["subject"] is None

    await eventually(receipt_held)
    await firm.publish(firm.applied(payment, balance=7500))
    receipt = firm.one(await firm.wait_for_mail(1, who="payer"), "Receipt:")
    text = firm.text(receipt)
    assert "INV-2026-0099" in text
    assert "$75.00" in text  # what is left to pay


async def test_a_dispute_opened_then_won(firm) -> None:
    account = await firm.bank_account("IOLTA Trust")
    await firm.set_recipients()
    payment = firm.received(account)
    dispute_id = str(uuid.uuid4())
    due = datetime(2026, 12, 16, 12, tzinfo=UTC)
    disputed = PaymentDisputed(
        dispute_id=dispute_id,
        payment_id=payment.payment_id,
        firm_id=firm.firm_id,
        bank_account_id=account,
        amount=payment.amount,
        reason="fraudulent",
        evidence_due_by=due,
        disputed_at=NOW,
    )
    won = DisputeClosed(
        dispute_id=dispute_id,
        payment_id=payment.payment_id,
        firm_id=firm.firm_id,
        outcome="won",
        amount=payment.amount,
        closed_at=NOW + timedelta(days=20),
    )
    await firm.publish(payment, firm.processed(payment), disputed, won)

    mail = await firm.wait_for_mail(4)
    opened = firm.one(mail, "Payment disputed:")
    assert firm.subject(opened) == (
        "Payment disputed: $125.00 from Dana Client — evidence due Wednesday, December 16, 2026"
    )
    assert "the cardholder says they did not make this payment" in firm.text(opened)
    assert "Dispute won" in firm.text(firm.one(mail, "Dispute won:"))
