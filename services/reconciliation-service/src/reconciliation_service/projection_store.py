"""Writes the planned rows of a batch into the read model: one set-based write per table (a COPY of its
new rows, or an upsert).

The statements use unqualified table names: the connection's search_path chooses the live read model
(the service schema) or the staging copy a rebuild fills.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import asyncpg
from msgspec.structs import astuple

from paylinks_events import Envelope
from paylinks_runtime.inbox_consumer import database_busy

from .projection import plan
from .projection_rows import ProjectionWrites, Row

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
    """The batch's many new rows first, copied straight into their tables; then each other table's rows in
    turn: a few sent with their statement, many staged first and their statements then sent together, in
    order, as one (the database writes a batch while the consumer decodes the next one: see
    database_busy)."""
    copied = await _copy_new_rows(conn, writes)
    staged: list[str] = []
    for table in _TABLE_WRITES:
        rows: Mapping[Any, Row] = getattr(writes, table.rows)
        if not rows or table in copied:
            continue
        if len(rows) >= COPY_FROM_ROWS:
            staged.append(await table.stage(conn, _in_key_order(rows)))
            continue
        await _merge(conn, staged)  # the tables before this one first: the order of _TABLE_WRITES holds
        await table.write_few(conn, _in_key_order(rows))
    await _merge(conn, staged)


async def _copy_new_rows(conn: asyncpg.Connection, writes: ProjectionWrites) -> set[TableWrite]:
    """The tables whose many rows are new (TableWrite.new_rows), each copied straight into its table, all in
    one savepoint; should one of the rows be there already (an event published twice, offsets replayed),
    the copies are undone and none of these tables is returned: the caller merges them from staging with
    their ON CONFLICT clauses, as the others. A table's rows come before the other tables' writes: the
    order that matters, a payment's receipt before what fills its gaps, holds."""
    new = [
        (table, rows)
        for table in _TABLE_WRITES
        if table.new_rows and len(rows := getattr(writes, table.rows)) >= COPY_FROM_ROWS
    ]
    if not new:
        return set()
    database_busy()
    await conn.execute("SAVEPOINT new_rows")
    try:
        for table, rows in new:
            into, columns = table.target
            await conn.copy_records_to_table(into, records=_in_key_order(rows), columns=columns)
    except asyncpg.UniqueViolationError:
        await conn.execute("ROLLBACK TO SAVEPOINT new_rows; RELEASE SAVEPOINT new_rows")
        return set()
    await conn.execute("RELEASE SAVEPOINT new_rows")
    return {table for table, _ in new}


async def _merge(conn: asyncpg.Connection, staged: list[str]) -> None:
    """The staged tables' statements, in one round trip (they take no parameters)."""
    if not staged:
        return
    database_busy()
    statements = ";\n".join(staged)
    staged.clear()
    await conn.execute(statements)


def _in_key_order(rows: Mapping[Any, Row]) -> list[tuple[Any, ...]]:
    """The rows in key order (concurrent writers lock rows in one order), as the plain tuples asyncpg
    encodes (it reads a plain tuple's items directly, 1-2 us a row faster in a COPY than a tuple
    subclass's)."""
    return [astuple(rows[key]) for key in sorted(rows)]


# From this many rows on, a table's rows are copied: straight into their table if they are new, else into a
# staging table and merged from there. COPY's binary rows cost the client a fraction of encoding an array
# of composite values (asyncpg checks every element of it), and the server the same merge. A command's one
# or two rows go as an array: one round trip.
COPY_FROM_ROWS = 64

# What a new-rows table's statement inserts into: `INSERT INTO <table> (<columns>)`.
_INSERT_TARGET = re.compile(r"INSERT INTO (\w+) \(([^)]*)\)")


@dataclass(frozen=True)
class TableWrite:
    """One set-based statement of the projection: `rows` names the ProjectionWrites field, `row_type` the
    composite type of its rows (migrations/), and `statement` reads them from `{rows}`. Every statement
    ends in its ON CONFLICT clause: what a row written before gets (skipped, or merged).

    `new_rows`: the table's rows are nearly always new (a payment's receipt, and what is only ever
    inserted: history, ledger, fees, payouts), and its statement inserts them as they are. Many of them
    are copied straight into the statement's table (_copy_new_rows): that spares Postgres a staging table
    and the speculative insertion ON CONFLICT makes for every row (the projection's Postgres CPU ~29 -> ~26
    us an event, bench/README.md). A row written before, rare, costs the batch's copies once more."""

    rows: str
    row_type: str
    statement: str
    new_rows: bool = False

    def __post_init__(self) -> None:
        assert self.statement.count("ON CONFLICT") == 1, self.rows
        # A new-rows statement's target, parsed now: one without it fails at import, not in a batch.
        assert not self.new_rows or self.target[1], self.rows

    def sql(self, rows: str) -> str:
        return self.statement.format(rows=rows)

    @cached_property
    def target(self) -> tuple[str, list[str]]:
        """The table a new-rows statement inserts into, and its columns in the order of the rows' fields."""
        found = _INSERT_TARGET.search(self.statement)
        assert found is not None, self.rows
        return found.group(1), [column.strip() for column in found.group(2).split(",")]

    async def write_few(self, conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
        await conn.execute(self.sql(f"unnest($1::{self.row_type}[])"), rows)

    async def stage(self, conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> str:
        """Copy the rows into a staging table; the statement that merges them from there."""
        # A temporary table of the row type, per session, emptied by every commit; copied into in key order,
        # which a scan of it then keeps.
        staged = f"staged_{self.row_type}"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staged} OF {self.row_type} ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(staged, records=rows)
        return self.sql(staged)


_UPSERT_BANK_ACCOUNTS = """
INSERT INTO bank_accounts (firm_id, bank_account_id, name, kind, currency)
SELECT * FROM {rows}
ON CONFLICT (firm_id, bank_account_id) DO UPDATE
SET name = EXCLUDED.name, kind = EXCLUDED.kind, currency = EXCLUDED.currency
"""

_UPSERT_CONTACTS = """
INSERT INTO contacts (firm_id, contact_id, name, email)
SELECT * FROM {rows}
ON CONFLICT (firm_id, contact_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email
"""

_UPSERT_MATTERS = """
INSERT INTO matters (firm_id, matter_id, contact_id, name, number)
SELECT * FROM {rows}
ON CONFLICT (firm_id, matter_id) DO UPDATE
SET contact_id = EXCLUDED.contact_id, name = EXCLUDED.name, number = EXCLUDED.number
"""

# PaymentReceived owns the payment's description; PaymentProcessed only fills what is still unknown.
_UPSERT_RECEIVED = """
INSERT INTO payments (firm_id, payment_id, bank_account_id, bill_id, link_id, source, amount, currency,
                      method, payer_name, payer_email, reference, card_brand, last4, received_at)
SELECT * FROM {rows}
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
SELECT * FROM {rows}
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
SELECT * FROM {rows}
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET failed_at = EXCLUDED.failed_at, failure_reason = EXCLUDED.failure_reason
"""

_UPSERT_UNALLOCATED = """
INSERT INTO payments (firm_id, payment_id, bill_id, currency, unallocated_amount, unallocated_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET unallocated_amount = EXCLUDED.unallocated_amount, unallocated_at = EXCLUDED.unallocated_at,
    bill_id = COALESCE(payments.bill_id, EXCLUDED.bill_id),
    currency = COALESCE(payments.currency, EXCLUDED.currency)
"""

# Last writer wins on (time, event id): a stale or repeated link change leaves the row as it is.
_UPSERT_LINK_CHANGES = """
INSERT INTO payments (firm_id, payment_id, link_state, contact_id, matter_id, linked_by, linked_at,
                      link_changed_at, link_event_id)
SELECT * FROM {rows}
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET link_state = EXCLUDED.link_state, contact_id = EXCLUDED.contact_id, matter_id = EXCLUDED.matter_id,
    linked_by = EXCLUDED.linked_by, linked_at = EXCLUDED.linked_at,
    link_changed_at = EXCLUDED.link_changed_at, link_event_id = EXCLUDED.link_event_id
WHERE payments.link_changed_at IS NULL
   OR (payments.link_changed_at, payments.link_event_id) < (EXCLUDED.link_changed_at, EXCLUDED.link_event_id)
"""

_INSERT_HISTORY = """
INSERT INTO payment_history (event_id, firm_id, payment_id, type, at, actor, details)
SELECT * FROM {rows}
ON CONFLICT (firm_id, payment_id, event_id) DO NOTHING
"""

_UPSERT_BILLS = """
INSERT INTO bills (firm_id, bill_id, matter_id, contact_id)
SELECT * FROM {rows}
ON CONFLICT (firm_id, bill_id) DO UPDATE SET matter_id = EXCLUDED.matter_id, contact_id = EXCLUDED.contact_id
"""

_UPSERT_RETURNED = """
INSERT INTO payments (firm_id, payment_id, returned_amount, returned_reason, returned_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET returned_amount = EXCLUDED.returned_amount, returned_reason = EXCLUDED.returned_reason,
    returned_at = EXCLUDED.returned_at
"""

# A payment is paid out once; should two payouts ever name it, the same one wins in any order.
_UPSERT_PAID_OUT = """
INSERT INTO payments (firm_id, payment_id, payout_id)
SELECT * FROM {rows}
ON CONFLICT (firm_id, payment_id) DO UPDATE
SET payout_id = LEAST(coalesce(payments.payout_id, EXCLUDED.payout_id), EXCLUDED.payout_id)
"""

_UPSERT_REFUND_REQUESTS = """
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, reason, requested_by, requested_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, refund_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, reason = EXCLUDED.reason,
    requested_by = EXCLUDED.requested_by, requested_at = EXCLUDED.requested_at
"""

_UPSERT_REFUND_SUCCESSES = """
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, succeeded_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, refund_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, succeeded_at = EXCLUDED.succeeded_at
"""

# No amount in RefundFailed: 0 until the request (which owns the amount) arrives, if it ever comes second.
_UPSERT_REFUND_FAILURES = """
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, failed_at, failure_reason)
SELECT r.firm_id, r.refund_id, r.payment_id, 0, '', r.failed_at, r.failure_reason
  FROM {rows} r
ON CONFLICT (firm_id, refund_id) DO UPDATE
SET failed_at = EXCLUDED.failed_at, failure_reason = EXCLUDED.failure_reason
"""

_UPSERT_DISPUTES_OPENED = """
INSERT INTO disputes (firm_id, dispute_id, payment_id, amount, currency, reason, evidence_due_by, disputed_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, dispute_id) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, reason = EXCLUDED.reason,
    evidence_due_by = EXCLUDED.evidence_due_by, disputed_at = EXCLUDED.disputed_at
"""

_UPSERT_DISPUTES_CLOSED = """
INSERT INTO disputes (firm_id, dispute_id, payment_id, amount, currency, outcome, closed_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, dispute_id) DO UPDATE
SET outcome = EXCLUDED.outcome, closed_at = EXCLUDED.closed_at
"""

_INSERT_FEES = """
INSERT INTO fees (firm_id, fee_id, given_back, payment_id, kind, amount, currency, bank_account_id,
                  charged_at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, fee_id, given_back) DO NOTHING
"""

_INSERT_PAYOUTS = """
INSERT INTO payouts (firm_id, payout_id, bank_account_id, amount, currency, arrival_date, lines)
SELECT * FROM {rows}
ON CONFLICT (firm_id, payout_id) DO NOTHING
"""

_INSERT_MOVEMENTS = """
INSERT INTO ledger_movements (firm_id, movement_id, payment_id, kind, amount, at)
SELECT * FROM {rows}
ON CONFLICT (firm_id, movement_id) DO NOTHING
"""


# Every table write of a batch, in this order (the payment's description before what fills its gaps).
_TABLE_WRITES: tuple[TableWrite, ...] = (
    TableWrite("bank_accounts", "bank_account_row", _UPSERT_BANK_ACCOUNTS),
    TableWrite("contacts", "contact_row", _UPSERT_CONTACTS),
    TableWrite("matters", "matter_row", _UPSERT_MATTERS),
    TableWrite("received", "received_row", _UPSERT_RECEIVED, new_rows=True),
    TableWrite("processed", "processed_row", _UPSERT_PROCESSED),
    TableWrite("failed", "failed_row", _UPSERT_FAILED),
    TableWrite("unallocated", "unallocated_row", _UPSERT_UNALLOCATED),
    TableWrite("link_changes", "link_change_row", _UPSERT_LINK_CHANGES),
    TableWrite("history", "history_row", _INSERT_HISTORY, new_rows=True),
    TableWrite("bills", "bill_row", _UPSERT_BILLS),
    TableWrite("returned", "returned_row", _UPSERT_RETURNED),
    TableWrite("paid_out", "paid_out_row", _UPSERT_PAID_OUT),
    TableWrite("refund_requests", "refund_request_row", _UPSERT_REFUND_REQUESTS),
    TableWrite("refund_successes", "refund_success_row", _UPSERT_REFUND_SUCCESSES),
    TableWrite("refund_failures", "refund_failure_row", _UPSERT_REFUND_FAILURES),
    TableWrite("disputes_opened", "dispute_opened_row", _UPSERT_DISPUTES_OPENED),
    TableWrite("disputes_closed", "dispute_closed_row", _UPSERT_DISPUTES_CLOSED),
    TableWrite("fees", "fee_row", _INSERT_FEES, new_rows=True),
    TableWrite("payouts", "payout_row", _INSERT_PAYOUTS, new_rows=True),
    TableWrite("movements", "movement_row", _INSERT_MOVEMENTS, new_rows=True),
)
