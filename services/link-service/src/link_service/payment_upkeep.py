"""Background task: finish payment attempts and refunds left between the processor call and its record, and
forget expired Idempotency-Keys. Whichever process runs it, a stranded one is sent again with the same key."""

from __future__ import annotations

import asyncio

import structlog

from .commands.intake import PaymentIntake
from .commands.refunds import RefundCommands

log = structlog.get_logger(__name__)


async def keep_payments_finished(
    intake: PaymentIntake, refunds: RefundCommands, *, after_seconds: float, interval_seconds: float
) -> None:
    """Until cancelled: every `interval_seconds`, recover attempts charging and refunds sending for over
    `after_seconds`."""
    while True:
        try:
            await intake.recover_stranded(after_seconds)
            await refunds.recover_stranded(after_seconds)
            await intake.forget_expired_keys()
        except Exception:  # the task must outlive any one failure, or stranded payments would stay so
            log.exception("payment upkeep failed; retrying")
        await asyncio.sleep(interval_seconds)
