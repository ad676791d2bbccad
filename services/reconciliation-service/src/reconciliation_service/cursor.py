"""The opaque cursor of the unlinked-payments list: the keyset position (received_at, payment_id)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class InvalidCursor(ValueError):
    """The cursor was not made by this service (or was altered)."""


@dataclass(frozen=True)
class Position:
    received_at: datetime
    payment_id: str


def encode(position: Position) -> str:
    raw = json.dumps([position.received_at.isoformat(), position.payment_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        received_at, payment_id = json.loads(raw)
        position = Position(datetime.fromisoformat(received_at), str(payment_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not valid") from exc
    if position.received_at.tzinfo is None or not _storable(position):
        raise InvalidCursor("cursor is not valid")
    return position


def _storable(position: Position) -> bool:
    """A position Postgres can compare with: a timestamp it can hold, an id without NUL."""
    try:
        position.received_at.astimezone(UTC)
    except OverflowError:
        return False
    return "\x00" not in position.payment_id and _EARLIEST < position.received_at < _LATEST
