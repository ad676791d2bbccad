"""Planners of the money after the payment (pure): refunds, disputes, returns, fees, payouts and the signed
ledger movements they make, each in tables keyed by its own id, so sums over them are order-free."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from paylinks_events import (
    BillIssued,
    DisputeClosed,
    Envelope,
    Event,
    FeeCharged,
    PaymentDisputed,
    PaymentReturned,
    PayoutPaid,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)

from .projection_rows import (
    BillRow,
    DisputeClosedRow,
    DisputeOpenedRow,
    FeeRow,
    PaidOutRow,
    PayoutRow,
    ProjectionWrites,
    RefundFailureRow,
    RefundRequestRow,
    RefundSuccessRow,
    ReturnedRow,
    details_json,
    utc,
)


def _history(
    writes: ProjectionWrites, envelope: Envelope, at: datetime, *, actor: str | None = None, **details: Any
) -> None:
    """A money event's row in the history of the payment it concerns, at its own time, by the service that
    published it unless a person is named (`actor`)."""
    payment_id: str = envelope.event.payment_id  # type: ignore[attr-defined]  # every money event names one
    writes.add_history(envelope, payment_id, at, actor or envelope.source, **details)


def _bill(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, BillIssued)
    writes.bills[(e.firm_id, e.bill_id)] = BillRow(e.firm_id, e.bill_id, e.matter_id, e.contact_id)


def _returned(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentReturned)
    at = utc(e.returned_at)
    writes.returned[(e.firm_id, e.payment_id)] = ReturnedRow(e.firm_id, e.payment_id, e.amount, e.reason, at)
    writes.add_movement(e.firm_id, e.payment_id, "return", e.payment_id, -e.amount, at)
    _history(writes, envelope, at, amount=e.amount, reason=e.reason)


def _refund_requested(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, RefundRequested)
    at = utc(e.requested_at)
    writes.refund_requests[(e.firm_id, e.refund_id)] = RefundRequestRow(
        e.firm_id, e.refund_id, e.payment_id, e.amount, e.currency, e.reason, e.requested_by, at
    )
    _history(
        writes,
        envelope,
        at,
        actor=e.requested_by,
        refund_id=e.refund_id,
        amount=e.amount,
        reason=e.reason,
    )


def _refund_succeeded(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, RefundSucceeded)
    at = utc(e.succeeded_at)
    writes.refund_successes[(e.firm_id, e.refund_id)] = RefundSuccessRow(
        e.firm_id, e.refund_id, e.payment_id, e.amount, e.currency, at
    )
    writes.add_movement(e.firm_id, e.payment_id, "refund", e.refund_id, -e.amount, at)
    _history(writes, envelope, at, refund_id=e.refund_id, amount=e.amount)


def _refund_failed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, RefundFailed)
    at = utc(e.failed_at)
    writes.refund_failures[(e.firm_id, e.refund_id)] = RefundFailureRow(
        e.firm_id, e.refund_id, e.payment_id, at, e.reason
    )
    _history(writes, envelope, at, refund_id=e.refund_id, reason=e.reason)


def _disputed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PaymentDisputed)
    at = utc(e.disputed_at)
    writes.disputes_opened[(e.firm_id, e.dispute_id)] = DisputeOpenedRow(
        e.firm_id,
        e.dispute_id,
        e.payment_id,
        e.amount,
        e.currency,
        e.reason,
        e.evidence_due_by,
        at,
    )
    _history(
        writes,
        envelope,
        at,
        dispute_id=e.dispute_id,
        amount=e.amount,
        reason=e.reason,
        evidence_due_by=e.evidence_due_by,
    )


def _dispute_closed(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, DisputeClosed)
    at = utc(e.closed_at)
    writes.disputes_closed[(e.firm_id, e.dispute_id)] = DisputeClosedRow(
        e.firm_id, e.dispute_id, e.payment_id, e.amount, e.currency, e.outcome, at
    )
    if e.outcome == "lost":  # an open or won dispute is not a loss: the money is still the client's
        writes.add_movement(e.firm_id, e.payment_id, "dispute_lost", e.dispute_id, -e.amount, at)
    _history(writes, envelope, at, dispute_id=e.dispute_id, outcome=e.outcome, amount=e.amount)


def _fee(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, FeeCharged)
    at = utc(e.charged_at)
    given_back = e.amount < 0
    writes.fees[(e.firm_id, e.fee_id, given_back)] = FeeRow(
        e.firm_id,
        e.fee_id,
        given_back,
        e.payment_id,
        e.kind,
        e.amount,
        e.currency,
        e.bank_account_id,
        at,
    )


def _payout(writes: ProjectionWrites, envelope: Envelope) -> None:
    e = envelope.event
    assert isinstance(e, PayoutPaid)
    lines = [line.model_dump() for line in e.lines]
    writes.payouts[(e.firm_id, e.payout_id)] = PayoutRow(
        e.firm_id, e.payout_id, e.bank_account_id, e.amount, e.currency, e.arrival_date, details_json(lines)
    )
    for line in e.lines:
        if line.type == "payment":
            # the least payout id, as the upsert keeps across batches: two payouts naming one payment in
            # one batch must not leave the later one
            key = (e.firm_id, line.payment_id)
            current = writes.paid_out.get(key)
            if current is None or e.payout_id < current.payout_id:
                writes.paid_out[key] = PaidOutRow(e.firm_id, line.payment_id, e.payout_id)


MONEY_PLANNERS: tuple[tuple[type[Event], Callable[[ProjectionWrites, Envelope], None]], ...] = (
    (BillIssued, _bill),
    (PaymentReturned, _returned),
    (RefundRequested, _refund_requested),
    (RefundSucceeded, _refund_succeeded),
    (RefundFailed, _refund_failed),
    (PaymentDisputed, _disputed),
    (DisputeClosed, _dispute_closed),
    (FeeCharged, _fee),
    (PayoutPaid, _payout),
)
