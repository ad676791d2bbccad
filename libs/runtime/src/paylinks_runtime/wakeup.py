"""A loop's wait between two rounds of work: until something wakes it, or its poll interval ends."""

from __future__ import annotations

import asyncio
import contextlib


async def woken_or_polled(wake: asyncio.Event, seconds: float) -> None:
    """Wait until `wake` is set or `seconds` pass, then clear it for the next round.

    asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that arrives just as the
    event is set (gh-86296), and a loop woken by every commit then outlived the stop that cancelled it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
    wake.clear()
