"""Processor webhook signatures: `Processor-Signature: t=<unix>,v1=<hex>` with HMAC-SHA256 over
"<t>.<raw body>". Several v1 values are allowed (secret rotation); old timestamps are refused (replays).

One implementation for both ends: the sandbox processor signs with it, link-service verifies with it."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Processor-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, *, now: float, tolerance: int) -> bool:
    if not header:
        return False
    timestamp, candidates = _parse(header)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    # Compare against every candidate so the time taken does not depend on which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    return timestamp, candidates
