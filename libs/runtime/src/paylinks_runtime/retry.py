"""Retrying, written once for every loop that tries again: an exponential backoff schedule, and `retry`,
which runs an operation until it succeeds, fails in a way not worth retrying, or runs out of attempts.

A loop whose schedule is kept elsewhere (an email's or a webhook's next try, stored with it) asks a
`Backoff` for the delay; a loop that lives in one process calls `retry`, or walks `Backoff.delays()` when
something between two failures starts the schedule over."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Waits of `first`, `first * factor`, `first * factor**2`, ... never more than `cap` seconds."""

    first: float
    cap: float = math.inf
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < 0 or self.factor < 1:
            raise ValueError(f"not a backoff schedule: {self}")

    def delay(self, failures: int) -> float:
        """The wait after `failures` failures in a row (1 for the first failure)."""
        if failures < 1:
            raise ValueError("a delay follows at least one failure")
        try:
            grown = self.first * self.factor ** (failures - 1)
        except OverflowError:  # a webhook retried for weeks: far past any cap
            grown = math.inf if self.first > 0 else 0.0
        return float(min(self.cap, grown))

    def delays(self) -> Iterator[float]:
        """The waits after the first, second, ... failure, without end."""
        return (self.delay(failures) for failures in itertools.count(1))


NO_WAIT = Backoff(0.0)


def always(_: Exception) -> bool:
    return True


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    attempts: int | None = None,
    retry_if: Callable[[Exception], bool] = always,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """Await `operation()` until it returns. An exception `retry_if` refuses, or the one of the last of
    `attempts` (None: no limit), is raised as it is; before each new attempt `on_retry(error, wait)` is
    told (to log or count it) and the backoff's wait is slept. Cancellation is never retried."""
    if attempts is not None and attempts < 1:
        raise ValueError("at least one attempt")
    for failures in itertools.count(1):
        try:
            return await operation()
        except Exception as exc:
            if not retry_if(exc) or (attempts is not None and failures >= attempts):
                raise
            wait = backoff.delay(failures)
            if on_retry is not None:
                on_retry(exc, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")
