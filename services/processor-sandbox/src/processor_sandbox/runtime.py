"""The sandbox process's moving parts: its Postgres pool (own schema, own migrations; no Kafka), the timer
loop, the webhook workers and the payout clock. Everything they work from is in Postgres, so a restart
carries on where the last process stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import structlog

from paylinks_runtime.db import open_database, postgres_reachable
from paylinks_runtime.wakeup import woken_or_polled

from . import idempotency, payouts, scheduler
from .config import Settings
from .webhook_delivery import WebhookDelivery, log_failure, run_worker

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_HOUSEKEEPING_SECONDS = 600.0


class SandboxRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool
        # Set after a commit that queued timers or webhooks: the loops act now, not at the next poll.
        self.timers_changed = asyncio.Event()
        self.webhooks_queued = asyncio.Event()
        self._client: httpx.AsyncClient
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        s = self.settings
        self.pool = await open_database(
            s.database_url,
            s.db_schema,
            max_size=s.db_pool_max_size,
            migrations=MIGRATIONS,
            runtime_tables=False,
        )
        self._client = httpx.AsyncClient(timeout=s.sandbox_webhook_timeout_seconds)
        delivery = WebhookDelivery(self.pool, self._client, s)
        self._spawn("timers", self._every(s.sandbox_poll_seconds, self._apply_timers, self.timers_changed))
        for n in range(s.sandbox_webhook_workers):
            self._spawn(f"webhooks-{n}", run_worker(delivery, self.webhooks_queued, s.sandbox_poll_seconds))
        # The first payout one period after start: a restart is not a payout day.
        self._spawn("payouts", self._every(s.sandbox_payout_seconds, self._pay_out, first_wait=True))
        self._spawn("housekeeping", self._every(_HOUSEKEEPING_SECONDS, self._forget_old_keys))
        log.info("processor sandbox started", webhook_url=s.processor_webhook_url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._client.aclose()
        await self.pool.close()
        log.info("processor sandbox stopped")

    async def readiness(self) -> dict[str, bool]:
        return {"postgres": await postgres_reachable(self.pool)}

    def changed(self) -> None:
        """After a commit that may have queued timers or webhooks."""
        self.timers_changed.set()
        self.webhooks_queued.set()

    async def pay_out(self, firm_id: str | None = None) -> list[dict[str, object]]:
        made = await payouts.pay_out(self.pool, firm_id)
        if made:
            self.webhooks_queued.set()
        return made

    async def _apply_timers(self) -> None:
        while await scheduler.apply_due(self.pool, self.settings):
            self.webhooks_queued.set()

    async def _pay_out(self) -> None:
        await self.pay_out()

    async def _forget_old_keys(self) -> None:
        await idempotency.forget_expired(self.pool, self.settings.idempotency_key_hours)

    async def _every(
        self,
        seconds: float,
        job: Callable[[], Awaitable[None]],
        wake: asyncio.Event | None = None,
        *,
        first_wait: bool = False,
    ) -> None:
        if first_wait:
            await asyncio.sleep(seconds)
        while True:
            try:
                await job()
            except Exception as exc:  # a loop must outlive any one failure (the database restarting, a bug)
                log_failure(log, f"sandbox {job.__name__.strip('_')} failed; retrying", exc)
            if wake is None:
                await asyncio.sleep(seconds)
                continue
            await woken_or_polled(wake, seconds)

    def _spawn(self, name: str, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)
