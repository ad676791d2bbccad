"""Linking a payment to a matter or contact: event-sourced (a payment-link aggregate, published through the
outbox to reconciliation.events), every error of the contract, the history, and racing staff."""

from __future__ import annotations

import asyncio

from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, auth_header, header

from .conftest import own_events_applied


def for_payment(firm, payment_id: str, event_type: str):  # type: ignore[no-untyped-def]
    return lambda r: (
        header(r, "ce_firmid") == firm.id
        and header(r, "ce_subject") == payment_id
        and header(r, "ce_type") == event_type
    )


async def link(firm, payment_id: str, **body: str):  # type: ignore[no-untyped-def]
    return await firm.client.post(f"/v1/payments/{payment_id}/link", json=body, headers=firm.headers)


async def unlink(firm, payment_id: str, **body: str):  # type: ignore[no-untyped-def]
    return await firm.client.request(
        "DELETE", f"/v1/payments/{payment_id}/link", json=body, headers=firm.headers
    )


async def test_linking_to_a_matter_publishes_payment_linked_and_leaves_the_list(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    contact, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)

    async with TopicWatcher(Topic.RECONCILIATION) as watcher:
        response = await link(firm, payment.payment_id, matter_id=matter.matter_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["matter_id"], body["contact_id"]) == (
            "linked",
            matter.matter_id,
            contact.contact_id,
        )  # the matter's client comes along
        assert body["linked_by"] == "staff-ann"
        assert body["matter_name"] == matter.name
        (record,) = await watcher.wait_for(for_payment(firm, payment.payment_id, "PaymentLinked"))
    assert b'"linked_by":"staff-ann"' in record.value
    assert header(record, "ce_source") == "/reconciliation-service"
    assert (await firm.payment(payment.payment_id))["status"] == "linked"
    listed = (await firm.get("/v1/unlinked-payments")).json()["items"]
    assert payment.payment_id not in [i["payment_id"] for i in listed]


async def test_linking_to_a_contact(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    contact, _ = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    response = await link(firm, payment.payment_id, contact_id=contact.contact_id)
    assert response.status_code == 200
    assert (response.json()["contact_id"], response.json()["matter_id"]) == (contact.contact_id, None)


async def test_a_payment_that_cannot_be_linked_is_422_with_a_reason(firm, other_firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    contact, matter = await firm.practice()
    _, foreign_matter = await other_firm.practice()
    ready = await firm.ready_payment(account.bank_account_id)
    pending, failed = firm.received(account.bank_account_id), firm.received(account.bank_account_id)
    await firm.publish(pending, failed, firm.failed(failed))
    await firm.wait_for_status(pending.payment_id, "pending")
    await firm.wait_for_status(failed.payment_id, "failed")

    for payment_id, body, code in (
        (pending.payment_id, {"matter_id": matter.matter_id}, "payment_not_processed"),
        (failed.payment_id, {"matter_id": matter.matter_id}, "payment_failed"),
        (ready.payment_id, {"matter_id": "no-such-matter"}, "unknown_matter"),
        (ready.payment_id, {"matter_id": foreign_matter.matter_id}, "unknown_matter"),
        (ready.payment_id, {"contact_id": "no-such-contact"}, "unknown_contact"),
        (
            ready.payment_id,
            {"matter_id": matter.matter_id, "contact_id": contact.contact_id},
            "invalid_target",
        ),
        (ready.payment_id, {}, "invalid_target"),
        (ready.payment_id, {"matter_id": ""}, "validation_error"),
    ):
        response = await link(firm, payment_id, **body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]
    assert (await firm.payment(ready.payment_id))["status"] == "ready"


async def test_linking_an_unknown_or_foreign_payment_is_404(firm, other_firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await other_firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    for payment_id in (payment.payment_id, "no-such-payment"):
        assert (await link(other_firm, payment_id, matter_id=matter.matter_id)).status_code == 404
        assert (await unlink(other_firm, payment_id, reason="wrong")).status_code == 404


async def test_linking_twice_is_409(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    contact, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    assert (await link(firm, payment.payment_id, matter_id=matter.matter_id)).status_code == 200
    again = await link(firm, payment.payment_id, contact_id=contact.contact_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_linked"
    assert (await firm.payment(payment.payment_id))["matter_id"] == matter.matter_id


async def test_unlinking_with_a_reason_makes_it_ready_again(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)

    not_linked = await unlink(firm, payment.payment_id, reason="oops")
    assert not_linked.status_code == 409
    assert not_linked.json()["error"]["code"] == "not_linked"
    await link(firm, payment.payment_id, matter_id=matter.matter_id)
    no_reason = await unlink(firm, payment.payment_id)
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["code"] == "validation_error"

    async with TopicWatcher(Topic.RECONCILIATION) as watcher:
        response = await unlink(firm, payment.payment_id, reason="wrong matter")
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["matter_id"]) == ("ready", None)
        (record,) = await watcher.wait_for(for_payment(firm, payment.payment_id, "PaymentUnlinked"))
    assert b'"reason":"wrong matter"' in record.value
    assert payment.payment_id in [
        i["payment_id"] for i in (await firm.get("/v1/unlinked-payments")).json()["items"]
    ]
    assert (await link(firm, payment.payment_id, matter_id=matter.matter_id)).status_code == 200


async def test_own_events_seen_again_from_the_topic_change_nothing(firm, pool) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    await link(firm, payment.payment_id, matter_id=matter.matter_id)
    await unlink(firm, payment.payment_id, reason="wrong matter")
    history = (await firm.get(f"/v1/payments/{payment.payment_id}/history")).json()["items"]
    own_ids = [h["event_id"] for h in history if h["type"] in ("PaymentLinked", "PaymentUnlinked")]

    assert len(own_ids) == 2
    # the linked event came back through the consumer after the unlink: it must not win
    await own_events_applied(pool)
    after = await firm.payment(payment.payment_id)
    assert (after["status"], after["matter_id"]) == ("ready", None)
    assert (await firm.get(f"/v1/payments/{payment.payment_id}/history")).json()["items"] == history


async def test_history_shows_every_change_with_who_and_when(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)
    await link(firm, payment.payment_id, matter_id=matter.matter_id)
    await unlink(firm, payment.payment_id, reason="wrong matter")
    response = await firm.get(f"/v1/payments/{payment.payment_id}/history")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(h["type"], h["by"]) for h in items] == [
        ("PaymentReceived", "/tests"),
        ("PaymentProcessed", "/tests"),
        ("PaymentLinked", "staff-ann"),
        ("PaymentUnlinked", "staff-ann"),
    ]
    assert items[2]["details"] == {"matter_id": matter.matter_id, "contact_id": matter.contact_id}
    assert items[3]["details"] == {"reason": "wrong matter"}
    assert all(h["at"] for h in items)
    assert [h["at"] for h in items] == sorted(h["at"] for h in items)


async def test_fifty_staff_racing_to_link_one_payment_exactly_one_wins(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    await firm.publish(account)
    _, matter = await firm.practice()
    payment = await firm.ready_payment(account.bank_account_id)

    async with TopicWatcher(Topic.RECONCILIATION) as watcher:
        responses = await asyncio.gather(
            *(
                firm.client.post(
                    f"/v1/payments/{payment.payment_id}/link",
                    json={"matter_id": matter.matter_id},
                    headers=auth_header(firm.id, user_id=f"staff-{i}"),
                )
                for i in range(50)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * 49
        # One key, one partition, outbox order: once this unlink is seen, every earlier link event is too.
        assert (await unlink(firm, payment.payment_id, reason="end of the race")).status_code == 200
        await watcher.wait_for(for_payment(firm, payment.payment_id, "PaymentUnlinked"))
        linked = [r for r in watcher.records if for_payment(firm, payment.payment_id, "PaymentLinked")(r)]
    assert len(linked) == 1
    assert next(c for c in responses if c.status_code == 409).json()["error"]["code"] == "already_linked"
    winner = next(r for r in responses if r.status_code == 200).json()["linked_by"]
    assert f'"linked_by":"{winner}"'.encode() in linked[0].value
