"""Waits for the system to settle, then judges it: the verdict once nothing is missing any more and every
consumer caught up, or whatever it is at the deadline (duplicates never go away: no point waiting on them)."""

from __future__ import annotations

import asyncio
import time

from .evidence import Evidence, gather
from .load import Ledger
from .system import ChaosSystem
from .verdict import Verdict, verify
from .workload import recipient

POLL_SECONDS = 2.0


async def settle(
    system: ChaosSystem, ledger: Ledger, firm_ids: set[str], deadline_seconds: float
) -> tuple[Verdict, Evidence]:
    recipients = {recipient(f) for f in firm_ids}
    deadline = time.monotonic() + deadline_seconds
    while True:
        evidence = await gather(system, firm_ids, recipients)
        verdict = verify(ledger, evidence)
        if (not verdict.lost and not any(evidence.lag.values())) or time.monotonic() > deadline:
            return verdict, evidence
        await asyncio.sleep(POLL_SECONDS)
