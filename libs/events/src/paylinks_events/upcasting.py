"""Schema evolution without rewriting stored events.

Each event type has a `schema_version`. When a type changes shape, bump its version and register an
upcaster from the old version to the next; readers lift old payloads step by step when decoding,
whether the payload comes from Kafka (header `ce_schemaversion`) or from an event store row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the step that lifts `event_type` payloads from `from_version` to the next version."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
        _UPCASTERS[key] = fn
        return fn

    return register


def upcast(event_type: str, payload: Payload, from_version: int, to_version: int) -> Payload:
    if from_version > to_version:
        raise ValueError(f"{event_type} v{from_version} is newer than this reader (v{to_version})")
    for version in range(from_version, to_version):
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"no upcaster for {event_type} from v{version}")
        payload = step(dict(payload))
    return payload
