"""The relay's wake-up signal never swallows a cancellation (an unstoppable relay hangs shutdown)."""

from __future__ import annotations

import asyncio

import pytest

from paylinks_runtime.unit_of_work import OutboxSignal

pytestmark = pytest.mark.unit


async def test_a_relay_woken_at_the_moment_it_is_cancelled_still_stops() -> None:
    signal = OutboxSignal()

    async def relay_loop() -> None:
        while True:
            await signal.wait(5.0)

    task = asyncio.create_task(relay_loop())
    await asyncio.sleep(0.01)  # the loop waits for the signal
    signal.notify()  # a commit wakes it ...
    await asyncio.sleep(0)  # ... the wait inside is done ...
    task.cancel()  # ... and the service stops before the loop has run again

    done, _ = await asyncio.wait({task}, timeout=2.0)
    if not done:
        task.cancel()
    assert task in done, "the cancellation was swallowed: the loop went on"
    assert task.cancelled(), "the cancellation was swallowed: the loop went on"
