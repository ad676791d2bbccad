"""A void is answered once link-service has applied it (issue #18: a payment 35 ms after the void's 200 was
accepted): link-service revokes the bill's links and refuses payments toward it in one transaction and says
so with BillLinksClosed on link.events; billing answers on that, not on the links it has read of (a link
issued just before the void may not have reached billing: the full chaos run took a payment on one)."""

from __future__ import annotations

import asyncio

from billing_service import voids_applied
from paylinks_events import BillLinksClosed, Topic, utcnow
from paylinks_runtime.testing import TopicWatcher, auth_header, header


def _closed(firm: str, bill_id: str, links: int = 1) -> BillLinksClosed:
    return BillLinksClosed(firm_id=firm, bill_id=bill_id, links_revoked=links, closed_at=utcnow())


async def test_a_void_answers_once_link_service_applied_it(world, client, firm) -> None:  # type: ignore[no-untyped-def]
    # No LinkIssued at all here: billing knows none of the bill's links, as when one was issued just before
    # the void and its event had not reached billing yet. The void still waits for link-service.
    bill = await world.issue_bill(firm)
    async with TopicWatcher(Topic.BILLING) as billing_events:
        voiding = asyncio.create_task(
            client.post(f"/v1/bills/{bill['bill_id']}/void", headers=auth_header(firm))
        )
        await billing_events.wait_for(lambda r: header(r, "ce_subject") == bill["bill_id"])
    await asyncio.sleep(0.3)  # 15 polls of the wait
    assert not voiding.done()  # the void is committed and published; link-service has not applied it
    await world.publish(_closed(firm, bill["bill_id"]))
    response = await voiding
    assert response.status_code == 200
    assert response.json() == {"bill_id": bill["bill_id"], "state": "void", "links_closed": True}


async def test_only_the_bills_own_closing_ends_the_wait(world, firm) -> None:  # type: ignore[no-untyped-def]
    bill, other = await world.issue_bill(firm), await world.issue_bill(firm)
    await world.publish(_closed(firm, other["bill_id"], links=0))
    await world.publish(_closed("another-firm", bill["bill_id"]))
    pool = world.runtime.pool

    async def closed(firm_id: str, bill_id: str) -> bool:
        return await voids_applied.wait_until_closed(pool, firm_id, bill_id, timeout=5)

    assert await closed(firm, other["bill_id"])  # both published events were consumed by now
    assert await closed("another-firm", bill["bill_id"])
    assert not await voids_applied.wait_until_closed(pool, firm, bill["bill_id"], timeout=0.3)
