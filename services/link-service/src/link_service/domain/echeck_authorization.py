"""The debit authorization a payer accepts before an eCheck (NACHA WEB debits need it, its text and proof
kept). The pay page shows TEXT; the payment records VERSION, when it was accepted and by whom.
A change of wording is a new version: what each payer agreed to stays known."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

VERSION = "echeck-web-debit-v1"
TEXT = (
    "By paying by eCheck, I authorize {payee} and its payment processor to debit the bank account I entered"
    " once, for the amount shown, on or after today. I confirm that I am an authorized signer on the account."
    " If the debit is returned unpaid, it may be presented again. I can revoke this authorization only before"
    " the debit is made, by contacting {payee}."
)


@dataclass(frozen=True)
class Authorization:
    version: str
    accepted_at: datetime
    payer_name: str

    @classmethod
    def accepted_now(cls, payer_name: str, now: datetime) -> Authorization:
        return cls(VERSION, now, payer_name)
