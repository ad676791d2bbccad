"""A payment link: into a bank account (permanent), or for one bill (revoked when it is voided or paid)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from paylinks_events import LinkIssued, LinkPaused, LinkRevoked
from paylinks_runtime.aggregate import Aggregate, DomainError

LinkKind = Literal["bank_account", "bill"]
RevokeReason = Literal["bill_voided", "bill_paid"]

# Link ids are derived from what they pay into, so asking twice finds the same stream (and two racing
# requests meet on its optimistic lock). The token in the URL is random and unrelated to these ids.
_LINK_NAMESPACE = uuid.UUID("5d0c3c1e-6a8e-4d8f-9a35-2f0a9a4c1b7e")


def bank_account_link_id(bank_account_id: str) -> str:
    return str(uuid.uuid5(_LINK_NAMESPACE, f"bank_account:{bank_account_id}"))


def bill_link_id(bill_id: str, bank_account_id: str) -> str:
    return str(uuid.uuid5(_LINK_NAMESPACE, f"bill:{bill_id}:{bank_account_id}"))


class Link(Aggregate):
    stream_type = "link"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.firm_id = ""
        self.kind: LinkKind = "bank_account"
        self.bank_account_id = ""
        self.bill_id: str | None = None
        self.revoked_reason: RevokeReason | None = None

    def issue(
        self,
        *,
        firm_id: str,
        kind: LinkKind,
        bank_account_id: str,
        bill_id: str | None,
        now: datetime,
    ) -> None:
        if self.exists:
            return  # a link is issued once; asking again returns the same one
        self.record(
            LinkIssued(
                link_id=self.id,
                firm_id=firm_id,
                kind=kind,
                bank_account_id=bank_account_id,
                bill_id=bill_id,
                issued_at=now,
            )
        )

    def revoke(self, reason: RevokeReason, now: datetime) -> None:
        if self.kind != "bill":
            raise DomainError("not_revocable", "a bank-account link is permanent")
        if self.revoked_reason is None:
            self.record(LinkRevoked(link_id=self.id, firm_id=self.firm_id, reason=reason, revoked_at=now))

    def pause(self, *, declines: int, window: timedelta, now: datetime, until: datetime) -> None:
        """A burst of declined cards paused the link (card testing): said once per pause, for staff.

        The pause itself lives in link-service's memory (it refuses payments until `until`); the event is what
        the firm is told. Nothing of the cards is in it.
        """
        self.record(
            LinkPaused(
                link_id=self.id,
                firm_id=self.firm_id,
                bank_account_id=self.bank_account_id,
                bill_id=self.bill_id,
                declines=declines,
                window_seconds=max(int(window.total_seconds()), 1),
                paused_at=now,
                paused_until=until,
            )
        )

    def reopen(self) -> None:
        """The bill's balance was raised again (BillPaymentReversed) after it was paid: a link revoked as
        `bill_paid` takes payment again; one revoked as `bill_voided` stays dead.

        The contract has no event for a reopening, so none is recorded: it lives in the links table (its
        `revoked_reason` cleared). Whoever finds a link open in that table tells its aggregate with this, so
        that the bill paid again revokes it again (a second LinkRevoked on its stream).
        """
        if self.revoked_reason == "bill_paid":
            self.revoked_reason = None

    def when_LinkIssued(self, event: LinkIssued) -> None:
        self.firm_id, self.kind = event.firm_id, event.kind
        self.bank_account_id, self.bill_id = event.bank_account_id, event.bill_id

    def when_LinkRevoked(self, event: LinkRevoked) -> None:
        self.revoked_reason = event.reason
