"""A webhook worker stops when the runtime's stop cancels it, even as new work wakes it at that moment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from processor_sandbox.webhook_delivery import run_worker

pytestmark = pytest.mark.unit


class NothingDue:
    async def deliver_next(self) -> bool:
        return False


async def test_a_worker_woken_as_it_is_cancelled_stops() -> None:
    wake = asyncio.Event()
    delivery: Any = NothingDue()
    worker = asyncio.create_task(run_worker(delivery, wake, poll_seconds=5.0))
    await asyncio.sleep(0.01)  # waiting for work
    wake.set()  # a commit queued a webhook ...
    worker.cancel()  # ... as the stop cancels the worker (Python 3.11's wait_for dropped this cancel)
    done, _ = await asyncio.wait({worker}, timeout=1.0)
    assert done == {worker}
    assert worker.cancelled()
