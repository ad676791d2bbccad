"""Processed payments from payment.events applied to bills: exact balances, events in order on
billing.events, and no payment lost (void bill, overpayment, unknown bill) or applied twice."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiokafka.structs import ConsumerRecord

from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, auth_header, header, unique


def about(subject: str, ce_type: str | None = None) -> Any:
    def matches(record: ConsumerRecord) -> bool:
        return header(record, "ce_subject") == subject and ce_type in (None, header(record, "ce_type"))

    return matches


def data(record: ConsumerRecord) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.value)
    return value


async def test_a_bill_paid_in_two_parts(world, firm) -> None:  # type: ignore[no-untyped-def]
    async with TopicWatcher(Topic.BILLING) as billing_events:
        bill = await world.issue_bill(firm, amount=10_000)
        bill_id = bill["bill_id"]
        first, second = world.processed(firm, bill_id, 4_000), world.processed(firm, bill_id, 6_000)

        await world.publish(first)
        partly = await world.bill_in_state(firm, bill_id, "partially_paid")
        assert partly["balance"] == 6_000
        assert [p["payment_id"] for p in partly["payments"]] == [first.payment_id]

        await world.publish(second)
        paid = await world.bill_in_state(firm, bill_id, "paid")
        records = await billing_events.wait_for(about(bill_id), count=4)

    assert paid["balance"] == 0
    assert [(p["payment_id"], p["amount"]) for p in paid["payments"]] == [
        (first.payment_id, 4_000),
        (second.payment_id, 6_000),
    ]
    assert [header(r, "ce_type") for r in records] == [
        "BillIssued",
        "BillPaymentApplied",
        "BillPaymentApplied",
        "BillPaid",
    ]
    assert [(data(r)["payment_id"], data(r)["amount"], data(r)["balance"]) for r in records[1:3]] == [
        (first.payment_id, 4_000, 6_000),
        (second.payment_id, 6_000, 0),
    ]
    assert all(header(r, "ce_firmid") == firm for r in records)


async def test_the_part_above_the_balance_is_unallocated(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=10_000)
    payment = world.processed(firm, bill["bill_id"], 12_500)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(payment)
        records = await billing_events.wait_for(about(bill["bill_id"]), count=3)
    assert [header(r, "ce_type") for r in records] == ["BillPaymentApplied", "BillPaid", "PaymentUnallocated"]
    assert (data(records[0])["amount"], data(records[0])["balance"]) == (10_000, 0)
    unallocated = data(records[2])
    assert (unallocated["payment_id"], unallocated["amount"], unallocated["reason"]) == (
        payment.payment_id,
        2_500,
        "overpayment",
    )
    assert (await world.bill(firm, bill["bill_id"]))["state"] == "paid"


async def test_a_payment_for_a_voided_bill_is_unallocated(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=10_000)
    await client.post(f"/v1/bills/{bill['bill_id']}/void", headers=auth_header(firm))
    payment = world.processed(firm, bill["bill_id"], 4_000)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(payment)
        [record] = await billing_events.wait_for(about(bill["bill_id"], "PaymentUnallocated"))
    assert data(record) | {"unallocated_at": None} == {
        "bill_id": bill["bill_id"],
        "firm_id": firm,
        "payment_id": payment.payment_id,
        "amount": 4_000,
        "currency": "USD",
        "reason": "bill_void",
        "unallocated_at": None,
    }
    after = await world.bill(firm, bill["bill_id"])
    assert (after["state"], after["balance"], after["payments"]) == ("void", 10_000, [])


async def test_a_payment_applies_once_whatever_the_redelivery(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=10_000)
    payment, marker = world.processed(firm, bill["bill_id"], 3_000), world.processed(firm, bill["bill_id"], 1)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        sent = await world.publish(payment, ce_id=(ce_id := str(uuid.uuid4())))
        await world.publish(payment, ce_id=ce_id)  # redelivered: the inbox dedupes the ce_id
        await world.publish(payment, partition=sent.partition)  # re-published: the aggregate dedupes
        # The marker follows on the same partition: once it is applied, every copy before it was seen.
        await world.publish(marker, partition=sent.partition)
        await billing_events.wait_for(about(bill["bill_id"], "BillPaymentApplied"), count=2)
        records = [r for r in billing_events.records if about(bill["bill_id"])(r)]
    assert [(data(r)["payment_id"], data(r)["balance"]) for r in records] == [
        (payment.payment_id, 7_000),
        (marker.payment_id, 6_999),
    ]
    assert (await world.bill(firm, bill["bill_id"]))["balance"] == 6_999


async def test_a_payment_for_an_unknown_bill_is_unallocated_once(world, firm) -> None:  # type: ignore[no-untyped-def]
    unknown_bill = str(uuid.uuid4())
    payment = world.processed(firm, unknown_bill, 5_000)
    marker = world.processed(firm, unknown_bill, 1)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        sent = await world.publish(payment)
        await world.publish(payment, partition=sent.partition)  # re-published under a new ce_id
        await world.publish(marker, partition=sent.partition)
        records = await billing_events.wait_for(about(unknown_bill), count=2)
    assert [(data(r)["payment_id"], data(r)["amount"], data(r)["reason"]) for r in records] == [
        (payment.payment_id, 5_000, "overpayment"),
        (marker.payment_id, 1, "overpayment"),
    ]
    assert {(header(r, "ce_type"), header(r, "ce_firmid")) for r in records} == {("PaymentUnallocated", firm)}


async def test_a_payment_naming_another_firms_bill_leaves_that_bill_alone(world, firm) -> None:  # type: ignore[no-untyped-def]
    their_firm = unique("other_firm")
    their_bill = await world.issue_bill(their_firm, amount=10_000)
    payment = world.processed(firm, their_bill["bill_id"], 2_000)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(payment)
        [record] = await billing_events.wait_for(about(their_bill["bill_id"]))
    assert (header(record, "ce_type"), header(record, "ce_firmid")) == ("PaymentUnallocated", firm)
    assert (data(record)["amount"], data(record)["reason"]) == (2_000, "overpayment")
    assert (await world.bill(their_firm, their_bill["bill_id"]))["balance"] == 10_000


async def test_a_payment_in_another_currency_is_unallocated(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=10_000)
    payment = world.processed(firm, bill["bill_id"], 2_000, currency="EUR")
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(payment)
        [record] = await billing_events.wait_for(about(bill["bill_id"]))
    assert (header(record, "ce_type"), data(record)["currency"], data(record)["amount"]) == (
        "PaymentUnallocated",
        "EUR",
        2_000,
    )
    assert (await world.bill(firm, bill["bill_id"]))["state"] == "unpaid"


async def test_payments_not_for_a_bill_are_left_to_reconciliation(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm, amount=10_000)
    sent = await world.publish(world.processed(firm, None, 2_000))
    marker = world.processed(firm, bill["bill_id"], 1)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        await world.publish(marker, partition=sent.partition)
        records = await billing_events.wait_for(lambda r: header(r, "ce_firmid") == firm)
    assert [header(r, "ce_type") for r in records] == ["BillPaymentApplied"]
    unmatched = "SELECT count(*) FROM unmatched_payments WHERE firm_id = $1"
    assert await world.runtime.pool.fetchval(unmatched, firm) == 0
