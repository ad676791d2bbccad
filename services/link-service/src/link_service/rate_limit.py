"""In-process sliding-window rate limiting for the public pay endpoints.

Per process: with several replicas each one counts on its own (the effective limit is multiplied by the
replica count); a shared limiter (Redis, or the proxy in front) would replace it there.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count one hit for `key`; False when it would exceed the limit within the window."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            return False
        hits.append(now)
        self._forget_idle(now)
        return True

    def _forget_idle(self, now: float) -> None:
        """Drop keys with no hit inside the window, so random tokens cannot grow memory without bound."""
        if len(self._hits) < 10_000:
            return
        idle = [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - self._window]
        for key in idle:
            del self._hits[key]
