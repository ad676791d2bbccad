"""The debit authorization a payer accepts before an eCheck (NACHA WEB debits need it, its text and proof
kept). The pay page shows TEXT; the payment records VERSION, when it was accepted and by whom.
A change of wording is a new version: what each payer agreed to stays known."""

from __future__ import annotations

from datetime import datetime

from paylinks_events import DebitAuthorization

VERSION = "echeck-web-debit-v1"
TEXT = (
    "By paying by eCheck, I authorize {payee} and its payment processor to debit the bank account I entered"
    " once, for the amount shown, on or after today. I confirm that I am an authorized signer on the account."
    " If the debit is returned unpaid, it may be presented again. I can revoke this authorization only before"
    " the debit is made, by contacting {payee}."
)


def accepted(payer_name: str, now: datetime) -> DebitAuthorization:
    """The payer accepted the current TEXT now, under the name they gave."""
    return DebitAuthorization(text_version=VERSION, accepted_at=now, name=payer_name)
