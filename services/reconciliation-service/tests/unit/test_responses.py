"""The response models describe the JSON the views build, and change none of it: a model that missed a key
would drop it silently, one that typed a value differently would change how it is written."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from reconciliation_service import exports, views
from reconciliation_service.money_api import reconciliation_view
from reconciliation_service.responses import (
    Deposit,
    HistoryEntry,
    PaymentDetail,
    PaymentItem,
    TrustReconciliationView,
    WaitingTotal,
)
from reconciliation_service.trust import Position, reconcile

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
UNTYPED = TypeAdapter(dict[str, Any])  # how the routes wrote their dicts before they had models


def same_json(model: type[BaseModel], view: dict[str, Any]) -> None:
    assert set(view) == set(model.model_fields)
    typed = model.model_validate(view).model_dump(mode="json")
    assert typed == UNTYPED.dump_python(view, mode="json")


def payment_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "payment_id": "pay-1",
        "amount": 125_000,
        "currency": "USD",
        "method": "card",
        "source": "link-service",
        "bank_account_id": "ba-trust",
        "payer_name": "Dana O'Hara",
        "payer_email": "dana@example.com",
        "status": "linked",
        "received_at": NOW - timedelta(hours=3),
        "processed_at": NOW - timedelta(hours=2),
        "bank_account_name": "Client trust",
        "bank_account_kind": "trust",
        "reference": "M-1001",
        "bill_id": None,
        "unallocated_amount": None,
        "card_brand": "visa",
        "last4": "4242",
        "suggestions": json.dumps(
            [
                {"kind": "matter", "id": "m-1", "name": "Estate", "number": "M-1001", "reason": "reference"},
                {"kind": "contact", "id": "c-1", "name": "Dana", "number": None, "reason": "payer_email"},
            ]
        ),
        "contact_id": None,
        "contact_name": None,
        "matter_id": "m-1",
        "matter_name": "Estate",
        "matter_number": "M-1001",
        "linked_by": "user-7",
        "linked_at": NOW - timedelta(hours=1),
        "failed_at": None,
        "failure_reason": None,
        "fee": 3655,
        "refunded_amount": 5000,
        "dispute": json.dumps(
            {
                "dispute_id": "dp-1",
                "status": "open",
                "amount": 2000,
                "evidence_due_by": "2026-12-20T00:00:00+00:00",
            }
        ),
        "returned_at": NOW,
        "returned_reason": "R10",
        "returned_amount": 125_000,
        "payout_id": "po-1",
    }
    return row | overrides


def test_a_payment_detail_keeps_every_field_and_value() -> None:
    same_json(PaymentDetail, views.payment_detail(payment_row(), NOW))


def test_a_payment_known_only_from_a_late_event_is_mostly_null() -> None:
    # PaymentLinked can arrive before PaymentReceived: the row has little more than its id and link
    sparse = {key: None for key in payment_row()} | {
        "payment_id": "pay-2",
        "status": "pending",
        "suggestions": "[]",
        "refunded_amount": 0,
    }
    same_json(PaymentDetail, views.payment_detail(sparse, NOW))


def test_a_list_item_keeps_every_field() -> None:
    same_json(PaymentItem, views.payment_item(payment_row(status="ready", linked_at=None), NOW))


def test_a_history_entry_keeps_its_details() -> None:
    row = {
        "event_id": "ev-1",
        "type": "PaymentLinked",
        "at": NOW,
        "actor": "user-7",
        "details": json.dumps({"matter_id": "m-1", "contact_id": None}),
    }
    same_json(HistoryEntry, views.history_item(row))


def test_a_waiting_total_keeps_every_field() -> None:
    row = {
        "bank_account_id": "ba-trust",
        "bank_account_name": "Client trust",
        "bank_account_kind": "trust",
        "status": "ready",
        "currency": "USD",
        "count": 3,
        "amount": 9_000,
        "oldest_received_at": NOW - timedelta(days=2),
    }
    same_json(WaitingTotal, views.total_item(row, NOW))


def test_a_deposit_keeps_its_lines_as_the_processor_sent_them() -> None:
    lines = [
        {"type": "payment", "payment_id": "pay-1", "refund_id": None, "fee_id": None, "amount": 125_000},
        {"type": "refund", "payment_id": "pay-1", "refund_id": "rf-1", "fee_id": None, "amount": -5000},
    ]
    row = {
        "payout_id": "po-1",
        "bank_account_id": "ba-trust",
        "bank_account_name": "Client trust",
        "amount": 120_000,
        "currency": "USD",
        "arrival_date": date(2026, 12, 3),
        "lines": json.dumps(lines),
    }
    same_json(Deposit, exports.deposit_item(row))


def test_the_trust_reconciliation_view_keeps_every_field() -> None:
    positions = [
        Position("pay-1", "card", NOW - timedelta(days=3), 10_000, 0, "m-1", None),
        Position("pay-2", "echeck", NOW - timedelta(days=90), 4_000, 0, None, None),
    ]
    view = reconciliation_view(reconcile("ba-trust", NOW, "USD", positions, deposited=9_000))
    same_json(TrustReconciliationView, view)
    assert view["client_ledgers"] == [
        {"matter_id": "m-1", "contact_id": None, "balance": 10_000, "at_risk": 10_000}
    ]
