"""The processor's own ids carry a prefix (docs/processor-api.md): pm_, py_, re_, dp_, fee_, po_, evt_."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
