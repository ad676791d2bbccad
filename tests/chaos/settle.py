"""Waits for the system to settle, then judges it: the verdict once the system is quiet (every consumer group
at the end of its topics, every outbox empty: nothing more can arrive) and nothing is missing, or whatever it
is at the deadline, where a system still not quiet counts as lost work. The final verdict includes the
card-data scan of everything the run left behind (logs, tables, topics, emails)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from .evidence import Evidence, card_data, gather
from .load import Ledger
from .system import ChaosSystem
from .verdict import Verdict, verify
from .workload import payer, recipient

POLL_SECONDS = 2.0


async def settle(
    system: ChaosSystem, ledger: Ledger, firm_ids: set[str], deadline_seconds: float
) -> tuple[Verdict, Evidence]:
    recipients = {address(f) for f in firm_ids for address in (recipient, payer)}
    deadline = time.monotonic() + deadline_seconds
    while True:
        evidence = await gather(system, firm_ids, recipients)
        verdict = verify(ledger, evidence)
        busy = still_busy(evidence)
        if (busy is None and not verdict.lost) or time.monotonic() > deadline:
            evidence = replace(evidence, card_data=await card_data(system))  # once: it reads everything
            verdict = verify(ledger, evidence)
            if busy is not None:
                verdict.lose("system not quiet at the verdict", busy)
            return verdict, evidence
        await asyncio.sleep(POLL_SECONDS)


def still_busy(evidence: Evidence) -> str | None:
    """What is still moving (a consumer behind, an outbox not empty), or None when the system is quiet."""
    behind = {group: lag for group, lag in evidence.lag.items() if lag}
    unpublished = {service: rows for service, rows in evidence.outboxes.items() if rows}
    if not behind and not unpublished:
        return None
    return f"consumer lag {behind}, outbox rows {unpublished}"
