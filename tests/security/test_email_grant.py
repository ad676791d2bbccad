"""The grant in a "ready to link" email: single-use, short-lived, for that payment's link action only,
recorded under the recipient's address, and nowhere at rest in clear."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from paylinks_runtime.auth import decode_payment_grant
from paylinks_runtime.testing import GRANT_KEYS

from .firm import Firm, html_part
from .system import System, http_client


def button_url(html: str) -> str:
    [url] = re.findall(r'href="([^"]+/link\?grant=[^"]+)"', html)
    return url.replace("&amp;", "&")


async def test_the_emailed_grant_links_one_payment_once_under_the_recipients_address(
    system: System, producer: AIOKafkaProducer
) -> None:
    # Protection: notifier grant_links (minted at sending, digest only at rest), reconciliation grants
    # (redeemed once, spent by one link action in its transaction) and page.GRANT_SEARCH.
    firm = Firm(system, producer)
    try:
        address = await firm.receive_emails()
        history = await firm.with_history()
        email = await firm.mail_about(history.payment_id, "Payment processed")
        url = button_url(html_part(email))
        grant = url.split("?grant=", 1)[1]
        decoded = decode_payment_grant(GRANT_KEYS, grant, history.payment_id)
        assert decoded.recipient == address
        assert decoded.expires_at - datetime.now(UTC) <= timedelta(hours=72)

        stored = "SELECT body_text || body_html || coalesce(grant_sha256, '') FROM outgoing_emails"
        at_rest = await system.notifier.fetchval(
            stored + " WHERE payment_id = $1 AND body_text LIKE '%grant=%'", history.payment_id
        )
        assert grant not in at_rest
        assert grant.split(".")[2] not in at_rest

        page = f"/payments/{history.payment_id}/link"
        async with http_client(str(firm.reconciliation.base_url)) as browser:
            assert (await browser.get(page, params={"grant": grant})).status_code == 303
            found = await browser.get(page, params={"q": "Dan"})  # the contact is "Dana Client"
            assert "Dana Client" in found.text
            assert "dana@x.example" not in found.text
            assert "Link to contact" not in (await browser.get(page, params={"q": "Da"})).text
            by_email = await browser.get(page, params={"q": "dana@x"})
            assert "Dana Client" not in by_email.text
            origin = {"origin": str(firm.reconciliation.base_url)}
            linked = await browser.post(page, data={"matter_id": history.matter_id}, headers=origin)
            assert linked.status_code == 303, linked.text
            unlinked = await firm.reconciliation.request(
                "DELETE",
                f"/v1/payments/{history.payment_id}/link",
                json={"reason": "test"},
                headers=firm.staff,
            )
            assert unlinked.status_code == 200
            again = await browser.post(page, data={"contact_id": history.contact_id}, headers=origin)
            assert again.status_code == 403, again.text
        payment = await firm.payment(history.payment_id)
        assert payment is not None
        assert payment["status"] == "ready"

        async with http_client(str(firm.reconciliation.base_url)) as another_browser:
            reopened = await another_browser.get(page, params={"grant": grant})
            assert reopened.status_code == 410
            assert "set-cookie" not in reopened.headers

        api = await firm.reconciliation.get(
            "/v1/unlinked-payments", headers={"Authorization": f"Bearer {grant}"}
        )
        assert api.status_code == 401  # a grant is no staff token
        history_rows = await firm.reconciliation.get(
            f"/v1/payments/{history.payment_id}/history", headers=firm.staff
        )
        assert address in history_rows.text
    finally:
        await firm.close()
