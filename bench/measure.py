"""Measuring tools shared by the figures: percentiles, throughput timing and an open-loop load schedule."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted samples."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latencies:
    """A latency distribution in milliseconds."""

    samples_ms: list[float]

    def p(self, pct: float) -> float:
        return percentile(self.samples_ms, pct)

    def summary(self) -> dict[str, float]:
        return {
            "count": len(self.samples_ms),
            "p50": self.p(50),
            "p95": self.p(95),
            "p99": self.p(99),
            "p99.9": self.p(99.9),
            "max": max(self.samples_ms),
        }


async def timed(work: Callable[[], Awaitable[int]]) -> float:
    """Run `work` (which returns how many events it handled) and return events per second."""
    started = time.perf_counter()
    count = await work()
    return count / (time.perf_counter() - started)


async def open_loop(
    rate: float, count: int, action: Callable[[int], Coroutine[object, object, None]]
) -> list[float]:
    """Start `action(i)` at start + i / rate, whether or not earlier actions finished (no coordinated
    omission: a slow system does not slow the offered load down). Returns each start's lag in ms."""
    started = time.perf_counter()
    lags_ms: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    for i in range(count):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags_ms.append((time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(action(i)))
    await asyncio.gather(*tasks)
    return lags_ms


async def rotating_rounds(
    runs: dict[str, Callable[[], Awaitable[float]]], count: int
) -> dict[str, list[float]]:
    """Each run once per round, `count` rounds, the order rotating so that none always goes first (the
    machine is shared: drift and others' load then fall on all of them alike). Returns every result."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(count):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            results[name].append(await runs[name]())
    return results
