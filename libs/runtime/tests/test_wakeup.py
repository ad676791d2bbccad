"""The wait between a loop's rounds: woken or polled, and always stoppable (gh-86296)."""

from __future__ import annotations

import asyncio

import pytest

from paylinks_runtime.wakeup import woken_or_polled

pytestmark = pytest.mark.unit


async def test_a_wake_ends_the_wait_and_is_cleared_for_the_next_round() -> None:
    wake = asyncio.Event()
    wake.set()
    async with asyncio.timeout(5):  # woken at once, not after the 60 s poll
        await woken_or_polled(wake, 60)
    assert not wake.is_set()


async def test_a_wait_cancelled_as_it_is_woken_is_cancelled() -> None:
    wake = asyncio.Event()
    waiting = asyncio.create_task(woken_or_polled(wake, 5.0))
    await asyncio.sleep(0.01)
    wake.set()  # new work ...
    waiting.cancel()  # ... as the stop cancels the loop: Python 3.11's wait_for dropped this cancel
    done, _ = await asyncio.wait({waiting}, timeout=1.0)
    assert done == {waiting}
    assert waiting.cancelled()
