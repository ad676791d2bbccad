"""Which table writes a staged batch first sends as a plain insert (TableWrite.new_rows), and what that
insert is: the statement without its ON CONFLICT clause, which the second try keeps."""

from __future__ import annotations

from reconciliation_service.projection_store import _TABLE_WRITES

# The rows that are nearly always new: a payment's receipt, and the tables the projection only inserts into.
NEW_ROWS = {"received", "history", "fees", "payouts", "movements"}


def test_only_the_tables_of_new_rows_are_first_inserted_plainly() -> None:
    plain = {table.rows for table in _TABLE_WRITES if "ON CONFLICT" not in table.sql("staged", plain=True)}
    assert plain == NEW_ROWS


def test_a_plain_insert_is_its_statement_up_to_the_clause_and_the_second_try_keeps_the_clause() -> None:
    for table in _TABLE_WRITES:
        first, again = table.sql("staged", plain=True), table.sql("staged")
        assert "staged" in first
        assert again.startswith(first)
        assert again.count("ON CONFLICT") == 1
        if table.rows in NEW_ROWS:
            assert again[len(first) :].lstrip().startswith("ON CONFLICT")
        else:
            assert first == again
