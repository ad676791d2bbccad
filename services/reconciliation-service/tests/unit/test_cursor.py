"""The opaque cursor round-trips and refuses anything it did not make."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciliation_service import cursor

pytestmark = pytest.mark.unit


def test_a_position_round_trips() -> None:
    position = cursor.Position(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "pay-1")
    token = cursor.encode(position)
    assert "=" not in token
    assert "pay-1" not in token
    assert cursor.decode(token) == position


@pytest.mark.parametrize(
    "token", ["", "!!!", "bm90IGpzb24", "WyJ4IiwieSJd", "WzEsMiwzXQ", "WyIyMDI2LTAxLTAyIiwicCJd"]
)
def test_anything_else_is_refused(token: str) -> None:
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(token)
