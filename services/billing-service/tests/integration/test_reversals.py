"""Refunds, disputes and returns of bill payments on the real broker and database: money off the bill
(unallocated part first), the bill reopened, its history showing why, and each reversal once."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiokafka.structs import ConsumerRecord

from paylinks_events import (
    DisputeClosed,
    PaymentDisputed,
    PaymentProcessed,
    PaymentReturned,
    RefundSucceeded,
    Topic,
    utcnow,
)
from paylinks_runtime.testing import TopicWatcher, header


def about(bill_id: str, *ce_types: str) -> Any:
    def matches(record: ConsumerRecord) -> bool:
        return header(record, "ce_subject") == bill_id and (
            not ce_types or header(record, "ce_type") in ce_types
        )

    return matches


def data(record: ConsumerRecord) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.value)
    return value


def refund(p: PaymentProcessed, amount: int, refund_id: str | None = None) -> RefundSucceeded:
    return RefundSucceeded(
        refund_id=refund_id or str(uuid.uuid4()),
        payment_id=p.payment_id,
        firm_id=p.firm_id,
        bank_account_id=p.bank_account_id,
        amount=amount,
        succeeded_at=utcnow(),
    )


def disputed(p: PaymentProcessed, dispute_id: str, amount: int | None = None) -> PaymentDisputed:
    return PaymentDisputed(
        dispute_id=dispute_id,
        payment_id=p.payment_id,
        firm_id=p.firm_id,
        bank_account_id=p.bank_account_id,
        amount=amount or p.amount,
        reason="fraudulent",
        evidence_due_by=utcnow(),
        disputed_at=utcnow(),
    )


def closed(p: PaymentProcessed, dispute_id: str, outcome: str, amount: int | None = None) -> DisputeClosed:
    return DisputeClosed(
        dispute_id=dispute_id,
        payment_id=p.payment_id,
        firm_id=p.firm_id,
        outcome=outcome,  # type: ignore[arg-type]
        amount=amount or p.amount,
        closed_at=utcnow(),
    )


def returned(p: PaymentProcessed) -> PaymentReturned:
    return PaymentReturned(
        payment_id=p.payment_id,
        firm_id=p.firm_id,
        bank_account_id=p.bank_account_id,
        amount=p.amount,
        reason="R10",
        returned_at=utcnow(),
    )


async def paid_bill(
    world: Any, firm: str, amount: int = 10_000, paid: int | None = None
) -> tuple[str, PaymentProcessed]:
    """A bill and the payment applied to it (the whole amount unless `paid` says otherwise)."""
    bill_id = (await world.issue_bill(firm, amount=amount))["bill_id"]
    payment = world.processed(firm, bill_id, paid or amount)
    await world.publish(payment)
    await world.bill_in_state(firm, bill_id, "paid" if payment.amount >= amount else "partially_paid")
    return bill_id, payment


async def test_a_refund_reopens_a_paid_bill_and_its_history_says_why(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(refund(payment, 2_500))
        [record] = await billing_events.wait_for(about(bill_id, "BillPaymentReversed"))
    assert data(record) | {"reversed_at": None} == {
        "bill_id": bill_id,
        "firm_id": firm,
        "payment_id": payment.payment_id,
        "amount": 2_500,
        "balance": 2_500,
        "reason": "refund",
        "reversed_at": None,
    }
    bill = await world.bill_in_state(firm, bill_id, "partially_paid")
    assert bill["balance"] == 2_500
    [line] = bill["payments"]
    assert (line["payment_id"], line["amount"], line["reversed_amount"]) == (payment.payment_id, 7_500, 2_500)
    assert [(h["type"], h["amount"], h["balance"], h["reason"]) for h in bill["history"]] == [
        ("applied", 10_000, 0, None),
        ("reversed", 2_500, 2_500, "refund"),
    ]


async def test_each_reversal_counts_once_whatever_the_redelivery(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm, amount=10_000, paid=6_000)
    other = world.processed(firm, bill_id, 4_000)
    await world.publish(other)
    await world.bill_in_state(firm, bill_id, "paid")
    first, second = refund(payment, 1_000), refund(payment, 500)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        sent = await world.publish(first, ce_id=(ce_id := str(uuid.uuid4())))
        await world.publish(first, ce_id=ce_id)  # redelivered: the inbox dedupes the ce_id
        await world.publish(first, partition=sent.partition)  # re-published: once per refund_id
        await world.publish(second, partition=sent.partition)
        await world.publish(second, partition=sent.partition)
        await world.publish(returned(payment), partition=sent.partition)
        await world.publish(returned(payment), partition=sent.partition)  # a payment is returned once
        # The other payment's refund last on the same partition: once it is reversed, all before was seen.
        await world.publish(refund(other, 1), partition=sent.partition)
        await billing_events.wait_for(about(bill_id, "BillPaymentReversed"), count=4)
        records = [r for r in billing_events.records if about(bill_id)(r)]
    assert [(data(r)["amount"], data(r)["balance"], data(r)["reason"]) for r in records] == [
        (1_000, 1_000, "refund"),
        (500, 1_500, "refund"),
        (4_500, 6_000, "return"),  # all the payment still had on the bill, not its whole amount again
        (1, 6_001, "refund"),
    ]
    bill = await world.bill(firm, bill_id)
    assert bill["state"] == "partially_paid"
    assert [(p["amount"], p["reversed_amount"]) for p in bill["payments"]] == [(0, 6_000), (3_999, 1)]


async def test_the_unallocated_part_is_refunded_first(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm, amount=10_000, paid=12_500)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        sent = await world.publish(refund(payment, 2_000))  # within the 2,500 overpaid: the bill keeps all
        await world.publish(refund(payment, 1_000), partition=sent.partition)
        [record] = await billing_events.wait_for(about(bill_id, "BillPaymentReversed"))
    assert (data(record)["amount"], data(record)["balance"]) == (500, 500)
    assert (await world.bill(firm, bill_id))["balance"] == 500


async def test_a_dispute_won_after_the_bill_was_paid_again_is_an_overpayment(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm)
    dispute_id = str(uuid.uuid4())
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(disputed(payment, dispute_id))
        [reversed_] = await billing_events.wait_for(about(bill_id, "BillPaymentReversed"))
        await world.bill_in_state(firm, bill_id, "unpaid")
        again = world.processed(firm, bill_id, 10_000)  # the client pays again through the reopened link
        await world.publish(again)
        await world.bill_in_state(firm, bill_id, "paid")
        won = closed(payment, dispute_id, "won")
        sent = await world.publish(won)
        await world.publish(won, partition=sent.partition)  # re-published: the dispute closes once
        await world.publish(refund(payment, 3_000), partition=sent.partition)  # its unallocated part now
        # The other payment's refund last on the same partition: once it is reversed, all before was seen.
        await world.publish(refund(again, 1), partition=sent.partition)
        await billing_events.wait_for(about(bill_id, "BillPaymentReversed"), count=2)
        # Only the disputed payment's: the shared topics may carry another billing instance's records.
        [unallocated] = [
            r
            for r in billing_events.records
            if about(bill_id, "PaymentUnallocated")(r) and data(r)["payment_id"] == payment.payment_id
        ]
    assert (data(reversed_)["amount"], data(reversed_)["reason"]) == (10_000, "dispute")
    assert (data(unallocated)["payment_id"], data(unallocated)["amount"], data(unallocated)["reason"]) == (
        payment.payment_id,
        10_000,
        "overpayment",
    )
    bill = await world.bill(firm, bill_id)
    assert (bill["state"], bill["balance"]) == ("partially_paid", 1)
    assert [h["type"] for h in bill["history"]] == [
        "applied",
        "reversed",
        "applied",
        "unallocated",
        "reversed",
    ]
    taken = "SELECT from_unallocated, from_bill FROM payment_reversals WHERE payment_id = $1 ORDER BY reason"
    rows = await world.runtime.pool.fetch(taken, payment.payment_id)
    assert [tuple(r) for r in rows] == [(0, 10_000), (3_000, 0)]  # dispute, then the refund


async def test_a_dispute_won_puts_the_payment_back_on_the_bill(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm)
    dispute_id = str(uuid.uuid4())
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(disputed(payment, dispute_id, amount=4_000))
        await world.publish(closed(payment, dispute_id, "won", amount=4_000))
        records = await billing_events.wait_for(
            about(bill_id, "BillPaymentReversed", "BillPaymentApplied", "BillPaid"), count=3
        )
    assert [(header(r, "ce_type"), data(r).get("balance")) for r in records] == [
        ("BillPaymentReversed", 4_000),
        ("BillPaymentApplied", 0),
        ("BillPaid", None),
    ]
    assert (await world.bill(firm, bill_id))["state"] == "paid"


async def test_a_lost_dispute_closed_before_it_was_seen_open_still_takes_the_money(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm)
    dispute_id = str(uuid.uuid4())
    async with TopicWatcher(Topic.BILLING) as billing_events:
        sent = await world.publish(closed(payment, dispute_id, "lost", amount=6_000))
        await world.publish(disputed(payment, dispute_id, amount=6_000), partition=sent.partition)  # late
        await world.publish(refund(payment, 1_000), partition=sent.partition)  # marker
        records = await billing_events.wait_for(about(bill_id, "BillPaymentReversed"), count=2)
    assert [(data(r)["amount"], data(r)["reason"]) for r in records] == [
        (6_000, "dispute"),
        (1_000, "refund"),
    ]
    bill = await world.bill(firm, bill_id)
    assert (bill["state"], bill["balance"]) == ("partially_paid", 7_000)


async def test_reversals_of_payments_billing_did_not_apply_change_nothing(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill_id, payment = await paid_bill(world, firm)
    not_for_a_bill = world.processed(firm, None, 2_000)
    foreign = payment.model_copy(update={"firm_id": "another-firm"})
    async with TopicWatcher(Topic.BILLING) as billing_events:
        sent = await world.publish(not_for_a_bill)
        await world.publish(refund(not_for_a_bill, 2_000), partition=sent.partition)
        await world.publish(
            refund(foreign, 5_000)
        )  # another firm naming our payment: not revealed, not applied
        await world.publish(refund(payment, 10), partition=sent.partition)
        [record] = await billing_events.wait_for(
            lambda r: header(r, "ce_firmid") == firm and header(r, "ce_type") == "BillPaymentReversed"
        )
    assert data(record)["amount"] == 10
    assert (await world.bill(firm, bill_id))["balance"] == 10
