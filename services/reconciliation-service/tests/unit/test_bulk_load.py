"""What the rebuild's bulk load copies raw, and what it leaves to the per-event projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from paylinks_events import BillPaid, ContactCreated, Envelope, FeeCharged, Payer, PaymentReceived
from reconciliation_service import bulk

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def received(**fields: object) -> PaymentReceived:
    values: dict[str, object] = {
        "firm_id": "f",
        "payment_id": "p",
        "bank_account_id": "b",
        "source": "qr_code",
        "amount": 100,
        "method": "card",
        "payer": {"name": "Pat", "email": "pat@example.com"},
        "received_at": T0,
    }
    return PaymentReceived.model_validate(values | fields)


def test_every_type_the_projection_uses_is_built_set_based() -> None:
    assert set(bulk.RAW_TABLES) == bulk.PROJECTED


def test_events_are_copied_raw_in_read_order_with_their_first_delivery_marked() -> None:
    loading = bulk.BulkLoad()
    payment = Envelope(received(), source="/link")
    fee = Envelope(
        FeeCharged(
            firm_id="f", fee_id="x", payment_id="p", kind="processing", amount=3, bank_account_id="b",
            charged_at=T0,
        ),
        source="/link",
    )  # fmt: skip
    for envelope in (payment, fee, payment, fee):
        loading.add(envelope)
    rows = loading.take()
    assert [row[:4] for row in rows["raw_payment_received"]] == [
        (1, payment.id, "/link", True),
        (3, payment.id, "/link", False),  # redelivered: no second history row
    ]
    assert [row[3] for row in rows["raw_fee_charged"]] == [True, True]  # fees keep no history
    data = json.loads(rows["raw_payment_received"][0][4])
    assert (data["currency"], data["link_id"]) == ("USD", None), "canonical: defaults written out"
    assert data["payer"] == {"name": "Pat", "email": "pat@example.com"}
    assert (loading.loaded, loading.per_event, loading.take()) == (4, [], {})


def test_what_postgres_would_refuse_in_bulk_is_left_to_the_per_event_projection() -> None:
    loading = bulk.BulkLoad()
    odd = [
        Envelope(ContactCreated(firm_id="f", contact_id="c", name="nul\x00"), source="/p"),
        Envelope(ContactCreated(firm_id="f", contact_id="c", name="bell\x07"), source="/p"),
        Envelope(received(amount=10**19), source="/link"),
        Envelope(received(), source="/li\x00nk"),
    ]
    for envelope in odd:
        loading.add(envelope)
    loading.add(Envelope(received(payer=Payer(name="Zoë ☃", email="z@example.com")), source="/link"))
    loading.add(Envelope(BillPaid(firm_id="f", bill_id="b", paid_at=T0), source="/billing"))  # not projected
    assert loading.per_event == odd
    assert list(loading.take()) == ["raw_payment_received"]
    assert loading.loaded == 1
