"""Planning a batch of events into read-model rows: one row per key, link changes last-writer-wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paylinks_events import (
    BillPaid,
    ContactCreated,
    Envelope,
    Payer,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentUnlinked,
    PayoutLine,
    PayoutPaid,
)
from reconciliation_service.projection import plan

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def envelope(event) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope(event, source="/test")


def received() -> PaymentReceived:
    return PaymentReceived(
        firm_id="f",
        payment_id="p",
        bank_account_id="b",
        source="qr_code",
        amount=100,
        method="card",
        payer=Payer(name="Pat", email="pat@example.com"),
        reference="M-1",
        received_at=T0,
    )


def linked(at: datetime) -> PaymentLinked:
    return PaymentLinked(firm_id="f", payment_id="p", matter_id="m", linked_by="ann", linked_at=at)


def test_each_event_type_writes_its_own_rows_and_a_history_entry() -> None:
    processed = PaymentProcessed(
        firm_id="f", payment_id="p", bank_account_id="b", amount=100, method="card", processed_at=T0
    )
    writes = plan(
        [
            envelope(received()),
            envelope(processed),
            envelope(ContactCreated(firm_id="f", contact_id="c", name="Dana", email=None)),
        ]
    )
    assert writes.received[("f", "p")].payer_name == "Pat"
    assert writes.processed[("f", "p")].processed_at == T0
    assert writes.contacts[("f", "c")].name == "Dana"
    assert sorted(h.type for h in writes.history.values()) == ["PaymentProcessed", "PaymentReceived"]


def test_events_the_projection_does_not_use_are_skipped() -> None:
    paid = BillPaid(firm_id="f", bill_id="b", paid_at=T0)
    assert plan([envelope(paid)]) == plan([])


def test_the_same_event_twice_in_a_batch_is_one_row() -> None:
    once = envelope(received())
    writes = plan([once, once])
    assert len(writes.received) == 1
    assert len(writes.history) == 1


@pytest.mark.parametrize("reverse", [False, True])
def test_the_latest_link_change_wins_in_whatever_order(reverse: bool) -> None:
    changes = [
        envelope(linked(T0)),
        envelope(
            PaymentUnlinked(
                firm_id="f",
                payment_id="p",
                unlinked_by="ann",
                reason="x",
                unlinked_at=T0 + timedelta(seconds=1),
            )
        ),
    ]
    writes = plan(reversed(changes) if reverse else changes)
    row = writes.link_changes[("f", "p")]
    assert (row.link_state, row.matter_id, row.changed_at) == ("unlinked", None, T0 + timedelta(seconds=1))
    assert len(writes.history) == 2


@pytest.mark.parametrize("reverse", [False, True])
def test_a_payment_in_two_payouts_of_one_batch_keeps_the_least_payout_id(reverse: bool) -> None:
    """As the upsert does across batches (LEAST): the order within a batch must not decide it either."""
    payouts = [
        PayoutPaid(
            firm_id="f", payout_id=payout_id, bank_account_id="b", amount=100, arrival_date=T0.date(),
            lines=(PayoutLine(type="payment", payment_id="p", amount=100),),
        )
        for payout_id in ("po-a", "po-b")
    ]  # fmt: skip
    writes = plan(envelope(p) for p in (reversed(payouts) if reverse else payouts))
    assert writes.paid_out[("f", "p")].payout_id == "po-a"
