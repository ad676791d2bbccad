"""Read-model rows as the JSON the API returns (and the page renders)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg


def waiting_seconds(row: asyncpg.Record, now: datetime) -> int | None:
    """How long the payment has waited for staff: until now, or until it was linked."""
    started = row["received_at"] or row["processed_at"]
    if started is None:
        return None
    ended = row["linked_at"] if row["status"] == "linked" else now
    return max(0, int((ended - started).total_seconds()))


def payment_item(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """One entry of the unlinked-payments list (the contract's fields, then this service's additions)."""
    return {
        "payment_id": row["payment_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "method": row["method"],
        "source": row["source"],
        "bank_account_id": row["bank_account_id"],
        "payer": {"name": row["payer_name"], "email": row["payer_email"]} if row["payer_name"] else None,
        "status": row["status"],
        "received_at": row["received_at"],
        "processed_at": row["processed_at"],
        "bank_account_name": row["bank_account_name"],
        "bank_account_kind": row["bank_account_kind"],
        "reference": row["reference"],
        "bill_id": row["bill_id"],
        "unallocated_amount": row["unallocated_amount"],
        "card_brand": row["card_brand"],
        "last4": row["last4"],
        "waiting_seconds": waiting_seconds(row, now),
        "suggestions": json.loads(row["suggestions"]),
    }


def payment_detail(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        **payment_item(row, now),
        "contact_id": row["contact_id"],
        "contact_name": row["contact_name"],
        "matter_id": row["matter_id"],
        "matter_name": row["matter_name"],
        "matter_number": row["matter_number"],
        "linked_by": row["linked_by"],
        "linked_at": row["linked_at"],
        "failed_at": row["failed_at"],
        "failure_reason": row["failure_reason"],
        "fee": row["fee"],
        "refunded_amount": row["refunded_amount"],
        "dispute": _dispute(row["dispute"]),
        "returned": _returned(row),
        "payout_id": row["payout_id"],
    }


def _dispute(raw: str | None) -> dict[str, Any] | None:
    """The latest dispute, its due date a datetime again (jsonb kept it as text), read like the others."""
    if raw is None:
        return None
    dispute: dict[str, Any] = json.loads(raw)
    if dispute["evidence_due_by"] is not None:
        dispute["evidence_due_by"] = datetime.fromisoformat(dispute["evidence_due_by"])
    return dispute


def _returned(row: asyncpg.Record) -> dict[str, Any] | None:
    if row["returned_at"] is None:
        return None
    return {
        "reason": row["returned_reason"],
        "returned_at": row["returned_at"],
        "amount": row["returned_amount"],
    }


def history_item(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "type": row["type"],
        "at": row["at"],
        "by": row["actor"],
        "details": json.loads(row["details"]),
    }


def total_item(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    oldest = row["oldest_received_at"]
    return {
        "bank_account_id": row["bank_account_id"],
        "bank_account_name": row["bank_account_name"],
        "bank_account_kind": row["bank_account_kind"],
        "status": row["status"],
        "currency": row["currency"],
        "count": row["count"],
        "amount": row["amount"],
        "oldest_received_at": oldest,
        "max_waiting_seconds": max(0, int((now - oldest).total_seconds())) if oldest else None,
    }
