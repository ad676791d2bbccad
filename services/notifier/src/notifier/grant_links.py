"""The one-payment grant behind the "Link to a client or matter" button, minted as the email is sent.

The body is composed once and stored with a slot where the grant goes; the sender mints a grant for the
email's recipients just before SMTP, fills the slot, and the row keeps only the grant's SHA-256: a copy of
the outgoing email table opens no payment page. A re-send (after a crash before the row was marked sent)
mints a new grant; each is single-use and expires after PAYMENT_GRANT_TTL_HOURS.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from urllib.parse import quote

from paylinks_runtime.auth import JwtKeys, issue_payment_grant

from .email_outbox import OutgoingEmail

_SLOT = "?grant=__payment_link_grant__"


def link_url(reconciliation_base_url: str, payment_id: str) -> str:
    """The button's URL as stored: the page of that payment, with the slot for its grant."""
    return f"{reconciliation_base_url.rstrip('/')}/payments/{quote(payment_id, safe='')}/link{_SLOT}"


def needs_grant(email: OutgoingEmail) -> bool:
    return _SLOT in (email.body_text or "")


def mint(keys: JwtKeys, email: OutgoingEmail) -> str:
    """A grant for this email's payment, recorded under the addresses it goes to."""
    recipient = ", ".join(email.recipients)
    return issue_payment_grant(keys, firm_id=email.firm_id, payment_id=email.payment_id, recipient=recipient)


def filled(email: OutgoingEmail, grant: str) -> OutgoingEmail:
    """The email as sent: its slots hold the grant (never stored)."""
    value = "?grant=" + grant  # base64url and dots: nothing to escape in a URL or an HTML attribute
    assert email.body_text is not None
    assert email.body_html is not None
    return replace(
        email,
        body_text=email.body_text.replace(_SLOT, value),
        body_html=email.body_html.replace(_SLOT, value),
    )


def digest(grant: str) -> str:
    return hashlib.sha256(grant.encode()).hexdigest()
