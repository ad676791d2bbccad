"""A void is answered once link-service has revoked the bill's pay links (issue #18: a payment 35 ms after
the void's 200 was accepted): billing learns the links from link.events and waits for their revocation."""

from __future__ import annotations

import asyncio
import uuid

from billing_service import bill_links
from paylinks_events import LinkIssued, LinkRevoked, Topic, utcnow
from paylinks_runtime.testing import TopicWatcher, auth_header, eventually, header


async def _link_of(world, firm: str, bill_id: str) -> str:  # type: ignore[no-untyped-def]
    link_id = str(uuid.uuid4())
    issued = LinkIssued(
        link_id=link_id,
        firm_id=firm,
        kind="bill",
        bank_account_id=str(uuid.uuid4()),
        bill_id=bill_id,
        issued_at=utcnow(),
    )
    await world.publish(issued)

    async def known() -> bool:
        async with world.runtime.pool.acquire() as conn:
            return await bill_links.open_links(conn, firm, bill_id) == 1

    assert await eventually(known)
    return link_id


async def test_a_void_answers_once_link_service_revoked_the_bills_links(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    bill = await world.issue_bill(firm)
    link_id = await _link_of(world, firm, bill["bill_id"])
    async with TopicWatcher(Topic.BILLING) as billing_events:
        voiding = asyncio.create_task(
            client.post(f"/v1/bills/{bill['bill_id']}/void", headers=auth_header(firm))
        )
        await billing_events.wait_for(lambda r: header(r, "ce_subject") == bill["bill_id"])
    assert not voiding.done()  # the void is committed and published; link-service has not revoked yet
    revoked = LinkRevoked(link_id=link_id, firm_id=firm, reason="bill_voided", revoked_at=utcnow())
    await world.publish(revoked)
    response = await voiding
    assert response.status_code == 200
    assert response.json() == {"bill_id": bill["bill_id"], "state": "void", "links_closed": True}


async def test_a_link_revoked_as_paid_is_still_waited_for_and_another_bills_is_not(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill, other = await world.issue_bill(firm), await world.issue_bill(firm)
    link_id = await _link_of(world, firm, bill["bill_id"])
    await _link_of(world, firm, other["bill_id"])
    await world.publish(LinkRevoked(link_id=link_id, firm_id=firm, reason="bill_paid", revoked_at=utcnow()))
    pool = world.runtime.pool
    assert not await bill_links.wait_until_closed(pool, firm, bill["bill_id"], timeout=0.3)
    assert await bill_links.wait_until_closed(pool, "another-firm", bill["bill_id"], timeout=0)
