"""Writes the planned rows of a batch into the read model: one set-based upsert per table.

The statements use unqualified table names: the connection's search_path chooses the live read model
(the service schema) or the staging copy a rebuild fills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from paylinks_events import Envelope

from .projection import plan
from .projection_rows import ProjectionWrites

# Taken shared by every transaction that writes the live read model, and exclusive by a rebuild while it
# swaps the read model, so no write lands in the tables being replaced (namespaced by schema).
_READ_MODEL_LOCK = 0x7265636F


async def hold_read_model_shared(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared($1, hashtext(current_schema()))", _READ_MODEL_LOCK
    )


async def hold_read_model_exclusive(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", _READ_MODEL_LOCK)


async def apply(conn: asyncpg.Connection, envelopes: Iterable[Envelope]) -> None:
    """Project events in the caller's transaction."""
    await write(conn, plan(envelopes))


async def write(conn: asyncpg.Connection, writes: ProjectionWrites) -> None:
    tables: tuple[tuple[str, Mapping[Any, tuple[Any, ...]]], ...] = (
        (_UPSERT_BANK_ACCOUNTS, writes.bank_accounts),
        (_UPSERT_CONTACTS, writes.contacts),
        (_UPSERT_MATTERS, writes.matters),
        (_UPSERT_RECEIVED, writes.received),
        (_UPSERT_PROCESSED, writes.processed),
        (_UPSERT_FAILED, writes.failed),
        (_UPSERT_UNALLOCATED, writes.unallocated),
        (_UPSERT_LINK_CHANGES, writes.link_changes),
        (_INSERT_HISTORY, writes.history),
        (_UPSERT_BILLS, writes.bills),
        (_UPSERT_RETURNED, writes.returned),
        (_UPSERT_PAID_OUT, writes.paid_out),
        (_UPSERT_REFUND_REQUESTS, writes.refund_requests),
        (_UPSERT_REFUND_SUCCESSES, writes.refund_successes),
        (_UPSERT_REFUND_FAILURES, writes.refund_failures),
        (_UPSERT_DISPUTES_OPENED, writes.disputes_opened),
        (_UPSERT_DISPUTES_CLOSED, writes.disputes_closed),
        (_UPSERT_FEES, writes.fees),
        (_UPSERT_PAYOUTS, writes.payouts),
        (_UPSERT_MOVEMENTS, writes.movements),
    )
    for statement, rows in tables:
        if rows:
            await conn.execute(statement, _in_key_order(rows))


def _in_key_order(rows: Mapping[Any, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows, for `unnest` of an array of rows, in key order: concurrent writers lock rows in one order."""
    return [rows[key] for key in sorted(rows)]


_UPSERT_BANK_ACCOUNTS = """
INSERT INTO bank_accounts (firm_id, bank_account_id, name, kind, currency)
SELECT * FROM unnest($1::bank_account_row[])
ON CONFLICT (firm_id, bank_account_id) DO UPDATE
SET name = EXCLUDED.name, kind = EXCLUDED.kind, currency = EXCLUDED.currency
"""

_UPSERT_CONTACTS = """
INSERT INTO contacts (firm_id, contact_id, name, email)
SELECT * FROM unnest($1::contact_row[])
ON CONFLICT (firm_id, contact_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email
"""

_UPSERT_MATTERS = """
INSERT INTO matters (firm_id, matter_id, contact_id, name, number)
SELECT * FROM unnest($1::matter_row[])
ON CONFLICT (firm_id, matter_id) DO UPDATE
SET contact_id = EXCLUDED.contact_id, name = EXCLUDED.name, number = EXCLUDED.number
"""

# PaymentReceived owns the payment's description; PaymentProcessed only fills what is still unknown.
_UPSERT_RECEIVED = """
INSERT INTO payments (firm_id, payment_id, bank_account_id, bill_id, link_id, source, amount, currency,
                      method, payer_name, payer_email, reference, card_brand, last4, received_at)
SELECT * FROM unnest($1::received_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET bank_account_id = EXCLUDED.bank_account_id, bill_id = COALESCE(EXCLUDED.bill_id, payments.bill_id),
    link_id = EXCLUDED.link_id, source = EXCLUDED.source, amount = EXCLUDED.amount,
    currency = EXCLUDED.currency, method = EXCLUDED.method, payer_name = EXCLUDED.payer_name,
    payer_email = EXCLUDED.payer_email, reference = EXCLUDED.reference, card_brand = EXCLUDED.card_brand,
    last4 = EXCLUDED.last4, received_at = EXCLUDED.received_at
"""

_UPSERT_PROCESSED = """
INSERT INTO payments (firm_id, payment_id, bank_account_id, bill_id, amount, currency, method, processed_at,
                      fee)
SELECT * FROM unnest($1::processed_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET processed_at = EXCLUDED.processed_at, fee = EXCLUDED.fee,
    bank_account_id = COALESCE(payments.bank_account_id, EXCLUDED.bank_account_id),
    bill_id = COALESCE(payments.bill_id, EXCLUDED.bill_id),
    amount = COALESCE(payments.amount, EXCLUDED.amount),
    currency = COALESCE(payments.currency, EXCLUDED.currency),
    method = COALESCE(payments.method, EXCLUDED.method)
"""

_UPSERT_FAILED = """
INSERT INTO payments (firm_id, payment_id, failed_at, failure_reason)
SELECT * FROM unnest($1::failed_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET failed_at = EXCLUDED.failed_at, failure_reason = EXCLUDED.failure_reason
"""

_UPSERT_UNALLOCATED = """
INSERT INTO payments (firm_id, payment_id, bill_id, currency, unallocated_amount, unallocated_at)
SELECT * FROM unnest($1::unallocated_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET unallocated_amount = EXCLUDED.unallocated_amount, unallocated_at = EXCLUDED.unallocated_at,
    bill_id = COALESCE(payments.bill_id, EXCLUDED.bill_id),
    currency = COALESCE(payments.currency, EXCLUDED.currency)
"""

# Last writer wins on (time, event id): a stale or repeated link change leaves the row as it is.
_UPSERT_LINK_CHANGES = """
INSERT INTO payments (firm_id, payment_id, link_state, contact_id, matter_id, linked_by, linked_at,
                      link_changed_at, link_event_id)
SELECT * FROM unnest($1::link_change_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET link_state = EXCLUDED.link_state, contact_id = EXCLUDED.contact_id, matter_id = EXCLUDED.matter_id,
    linked_by = EXCLUDED.linked_by, linked_at = EXCLUDED.linked_at,
    link_changed_at = EXCLUDED.link_changed_at, link_event_id = EXCLUDED.link_event_id
WHERE payments.link_changed_at IS NULL
   OR (payments.link_changed_at, payments.link_event_id) < (EXCLUDED.link_changed_at, EXCLUDED.link_event_id)
"""

_INSERT_HISTORY = """
INSERT INTO payment_history (event_id, firm_id, payment_id, type, at, actor, details)
SELECT * FROM unnest($1::history_row[])
ON CONFLICT (event_id) DO NOTHING
"""

_UPSERT_BILLS = """
INSERT INTO bills (firm_id, bill_id, matter_id, contact_id)
SELECT * FROM unnest($1::bill_row[])
ON CONFLICT (firm_id, bill_id) DO UPDATE SET matter_id = EXCLUDED.matter_id, contact_id = EXCLUDED.contact_id
"""

_UPSERT_RETURNED = """
INSERT INTO payments (firm_id, payment_id, returned_amount, returned_reason, returned_at)
SELECT * FROM unnest($1::returned_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET returned_amount = EXCLUDED.returned_amount, returned_reason = EXCLUDED.returned_reason,
    returned_at = EXCLUDED.returned_at
"""

# A payment is paid out once; should two payouts ever name it, the same one wins in any order.
_UPSERT_PAID_OUT = """
INSERT INTO payments (firm_id, payment_id, payout_id)
SELECT * FROM unnest($1::paid_out_row[])
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET payout_id = LEAST(coalesce(payments.payout_id, EXCLUDED.payout_id), EXCLUDED.payout_id)
"""

_UPSERT_REFUND_REQUESTS = """
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, reason, requested_by, requested_at)
SELECT * FROM unnest($1::refund_request_row[])
ON CONFLICT (firm_id, refund_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, reason = EXCLUDED.reason,
    requested_by = EXCLUDED.requested_by, requested_at = EXCLUDED.requested_at
"""

_UPSERT_REFUND_SUCCESSES = """
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, succeeded_at)
SELECT * FROM unnest($1::refund_success_row[])
ON CONFLICT (firm_id, refund_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, succeeded_at = EXCLUDED.succeeded_at
"""

# No amount in RefundFailed: 0 until the request (which owns the amount) arrives, if it ever comes second.
_UPSERT_REFUND_FAILURES = """
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, failed_at, failure_reason)
SELECT r.firm_id, r.refund_id, r.payment_id, 0, '', r.failed_at, r.failure_reason
  FROM unnest($1::refund_failure_row[]) r
ON CONFLICT (firm_id, refund_id) DO UPDATE
SET failed_at = EXCLUDED.failed_at, failure_reason = EXCLUDED.failure_reason
"""

_UPSERT_DISPUTES_OPENED = """
INSERT INTO disputes (firm_id, dispute_id, payment_id, amount, currency, reason, evidence_due_by, disputed_at)
SELECT * FROM unnest($1::dispute_opened_row[])
ON CONFLICT (firm_id, dispute_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, reason = EXCLUDED.reason,
    evidence_due_by = EXCLUDED.evidence_due_by, disputed_at = EXCLUDED.disputed_at
"""

_UPSERT_DISPUTES_CLOSED = """
INSERT INTO disputes (firm_id, dispute_id, payment_id, amount, currency, outcome, closed_at)
SELECT * FROM unnest($1::dispute_closed_row[])
ON CONFLICT (firm_id, dispute_id) DO UPDATE
SET outcome = EXCLUDED.outcome, closed_at = EXCLUDED.closed_at
"""

_UPSERT_FEES = """
INSERT INTO fees (firm_id, fee_id, given_back, payment_id, kind, amount, currency, bank_account_id,
                  charged_at)
SELECT * FROM unnest($1::fee_row[])
ON CONFLICT (firm_id, fee_id, given_back) DO NOTHING
"""

_UPSERT_PAYOUTS = """
INSERT INTO payouts (firm_id, payout_id, bank_account_id, amount, currency, arrival_date, lines)
SELECT * FROM unnest($1::payout_row[])
ON CONFLICT (firm_id, payout_id) DO NOTHING
"""

_UPSERT_MOVEMENTS = """
INSERT INTO ledger_movements (firm_id, movement_id, payment_id, kind, amount, at)
SELECT * FROM unnest($1::movement_row[])
ON CONFLICT (firm_id, movement_id) DO NOTHING
"""
