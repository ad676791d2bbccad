"""Who gets a payment's email, and the stable Message-ID of each email (pure).

Routing rule: the most specific group wins. A payment's email goes to its bank account's group when the
firm set one, otherwise to the firm's group; never both, so each event is exactly one email. Someone who
wants every email and those of one account is simply listed in both groups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FIRM_GROUP = "firm"
NO_RECIPIENTS = "none"  # the group of a skipped email: nobody to send it to


@dataclass(frozen=True)
class RecipientGroup:
    key: str
    emails: tuple[str, ...]


def group_key(bank_account_id: str | None) -> str:
    return f"bank_account:{bank_account_id}" if bank_account_id else FIRM_GROUP


def route(groups: Mapping[str, Sequence[str]], bank_account_id: str | None) -> list[RecipientGroup]:
    """The groups a payment's email goes to; empty when the firm configured nobody."""
    candidates = [group_key(bank_account_id), FIRM_GROUP] if bank_account_id else [FIRM_GROUP]
    for key in candidates:
        if groups.get(key):
            return [RecipientGroup(key, tuple(groups[key]))]
    return []


def message_id(event_id: str, group: str, domain: str) -> str:
    """The same event to the same group always has the same Message-ID, across retries and restarts."""
    digest = hashlib.sha256(group.encode()).hexdigest()[:12]
    return f"<{event_id}.{digest}@{domain}>"
