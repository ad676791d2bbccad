"""The opaque cursor of the unlinked-payments list: the keyset position (received_at, payment_id)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime


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
    if position.received_at.tzinfo is None:
        raise InvalidCursor("cursor is not valid")
    return position
