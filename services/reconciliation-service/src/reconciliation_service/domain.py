"""The payment-link aggregate: which matter or contact a payment belongs to. Pure: no I/O.

Facts it does not own (the payment's processing status, whether the matter exists) are looked up by the
command handler in the read model and handed in; the aggregate's own stream decides "already linked".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from paylinks_events import PaymentLinked, PaymentUnlinked
from paylinks_runtime.aggregate import Aggregate, DomainError

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class TargetRequest:
    """What staff asked to link to: exactly one of a matter or a contact."""

    matter_id: str | None = None
    contact_id: str | None = None

    def __post_init__(self) -> None:
        if (self.matter_id is None) == (self.contact_id is None):
            raise DomainError("invalid_target", "give exactly one of matter_id or contact_id")

    @property
    def kind(self) -> str:
        return "matter" if self.matter_id is not None else "contact"


@dataclass(frozen=True)
class LinkTarget:
    """A matter (with its client) or a contact that exists in the firm's practice records."""

    contact_id: str | None
    matter_id: str | None


@dataclass(frozen=True)
class PaymentRef:
    firm_id: str
    payment_id: str


class PaymentLink(Aggregate):
    stream_type = "payment_link"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.target: LinkTarget | None = None
        self.last_change_at: datetime | None = None

    @staticmethod
    def stream_id(payment: PaymentRef) -> str:
        return f"payment-link/{payment.firm_id}/{payment.payment_id}"

    @property
    def linked(self) -> bool:
        return self.target is not None

    def link(
        self,
        payment: PaymentRef,
        status: str,
        request: TargetRequest,
        target: LinkTarget | None,
        by: str,
        now: datetime,
    ) -> None:
        """`target` is what `request` resolved to in the firm's practice records (None: it does not exist)."""
        if self.linked:
            raise DomainError("already_linked", "the payment is already linked")
        _require_linkable(status)
        if target is None:
            raise DomainError(f"unknown_{request.kind}", f"no such {request.kind} in this firm")
        self.record(
            PaymentLinked(
                firm_id=payment.firm_id,
                payment_id=payment.payment_id,
                contact_id=target.contact_id,
                matter_id=target.matter_id,
                linked_by=by,
                linked_at=self._next_time(now),
            )
        )

    def unlink(self, payment: PaymentRef, reason: str, by: str, now: datetime) -> None:
        if not self.linked:
            raise DomainError("not_linked", "the payment is not linked")
        self.record(
            PaymentUnlinked(
                firm_id=payment.firm_id,
                payment_id=payment.payment_id,
                unlinked_by=by,
                reason=reason,
                unlinked_at=self._next_time(now),
            )
        )

    def when_PaymentLinked(self, event: PaymentLinked) -> None:
        self.target = LinkTarget(contact_id=event.contact_id, matter_id=event.matter_id)
        self.last_change_at = event.linked_at

    def when_PaymentUnlinked(self, event: PaymentUnlinked) -> None:
        self.target = None
        self.last_change_at = event.unlinked_at

    def _next_time(self, now: datetime) -> datetime:
        """Strictly after the previous change: the read model orders link changes by this time."""
        if self.last_change_at is not None and now <= self.last_change_at:
            return self.last_change_at + _TICK
        return now


def _require_linkable(status: str) -> None:
    if status == "pending":
        raise DomainError("payment_not_processed", "the payment is not processed yet; it cannot be linked")
    if status == "failed":
        raise DomainError("payment_failed", "the payment failed; it cannot be linked")


def require_no_refund_in_progress(refund_pending: bool) -> None:
    """While a refund is on its way, who the money belongs to stays as it is (as in Clio): the refund's
    outcome would otherwise land on a ledger other than the one it was asked from."""
    if refund_pending:
        raise DomainError(
            "refund_in_progress", "a refund of this payment is in progress; wait for its outcome"
        )
