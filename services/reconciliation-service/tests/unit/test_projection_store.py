"""Which table writes copy a batch's many rows straight into their table (TableWrite.new_rows), and where
that copy goes: the table and columns their statement inserts into, in the order of the rows' fields."""

from __future__ import annotations

import typing

from reconciliation_service.projection_rows import ProjectionWrites
from reconciliation_service.projection_store import _TABLE_WRITES

# The rows that are nearly always new: a payment's receipt, and the tables the projection only inserts into.
NEW_ROWS = {"received", "history", "fees", "payouts", "movements"}


def test_only_the_tables_of_new_rows_are_copied_straight_into_their_table() -> None:
    assert {table.rows for table in _TABLE_WRITES if table.new_rows} == NEW_ROWS


def test_a_copy_fills_the_columns_its_statement_inserts_in_the_order_of_the_rows_fields() -> None:
    row_types = typing.get_type_hints(ProjectionWrites)
    for table in _TABLE_WRITES:
        if not table.new_rows:
            continue
        _, columns = table.target
        row_type = typing.get_args(row_types[table.rows])[1]
        assert columns == list(row_type.__struct_fields__), table.rows


def test_the_payment_s_receipt_is_copied_into_the_payments_and_its_history_into_the_history() -> None:
    targets = {table.rows: table.target[0] for table in _TABLE_WRITES if table.new_rows}
    assert targets["received"] == "payments"
    assert targets["history"] == "payment_history"
    assert targets["movements"] == "ledger_movements"
