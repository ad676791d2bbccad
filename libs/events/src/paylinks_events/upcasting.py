"""Schema evolution without rewriting stored events.

Each event type has a `schema_version`. When a type changes shape, its version goes up and the model class
gets a static method `upcast_vN` lifting a version-N payload to N+1; readers lift old payloads step by step
when decoding, whether the payload comes from Kafka (header `ce_schemaversion`) or from an event store row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Event

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def upcaster_of(model: type[Event], from_version: int) -> Upcaster | None:
    """The model's step from `from_version` to the next version, if it has one."""
    step = getattr(model, f"upcast_v{from_version}", None)
    return step if callable(step) else None


def upcast(model: type[Event], payload: Payload, from_version: int) -> Payload:
    """`payload` (written at `from_version`) lifted to the model's current schema version."""
    to_version = model.schema_version
    if from_version > to_version:
        raise ValueError(f"{model.type_name()} v{from_version} is newer than this reader (v{to_version})")
    for version in range(from_version, to_version):
        step = upcaster_of(model, version)
        if step is None:
            raise ValueError(f"no upcaster for {model.type_name()} from v{version}")
        payload = step(dict(payload))
    return payload
