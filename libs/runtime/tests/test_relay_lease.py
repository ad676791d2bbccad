"""Relay leadership is a lease: a frozen leader (SIGSTOP) loses it within seconds, the standby publishes,
and the old leader, when it wakes, knows it lost the lease before publishing anything again."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from paylinks_events import Topic
from paylinks_runtime.testing import TopicWatcher, eventually, header

from .test_outbox_relay import append_matters, relay_command


class RelayProcess:
    """A relay in its own process; its log lines are read as they come, so the pipe never fills."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode())

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        await self.process.wait()
        await self._reader


@asynccontextmanager
async def relay(schema: str) -> AsyncIterator[RelayProcess]:
    process = await asyncio.create_subprocess_exec(
        *relay_command(schema),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=os.environ.copy(),
    )
    running = RelayProcess(process)
    try:
        await eventually(lambda: running.logged("relay running"), timeout=30)
        yield running
    finally:
        await running.kill()


async def lease_holder(pool: asyncpg.Pool) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT holder, epoch FROM outbox_relay_lease WHERE expires_at > now()")


def pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


async def test_a_frozen_leader_loses_the_lease_and_cannot_publish_when_it_wakes(pool: asyncpg.Pool) -> None:
    schema = await pool.fetchval("SELECT current_schema()")
    firm = f"firm-{uuid.uuid4()}"
    async with relay(schema) as first, relay(schema) as second, TopicWatcher(Topic.PRACTICE) as watcher:
        leader_lease = await eventually(lambda: lease_holder(pool), timeout=30)
        by_pid = {first.process.pid: first, second.process.pid: second}
        leader = by_pid.pop(pid_of(leader_lease["holder"]))
        (standby,) = by_pid.values()

        leader.process.send_signal(signal.SIGSTOP)
        during = await append_matters(pool, firm, aggregates=20, per_aggregate=2)
        # the standby takes over once the lease expired (a few seconds), with the next epoch
        await eventually(lambda: outbox_empty(pool), timeout=30)
        taken = await lease_holder(pool)
        assert taken is not None
        assert pid_of(taken["holder"]) == standby.process.pid
        assert taken["epoch"] == leader_lease["epoch"] + 1

        leader.process.send_signal(signal.SIGCONT)
        await eventually(lambda: leader.logged("outbox relay lost the lease"), timeout=30)
        after = await append_matters(pool, firm, aggregates=20, per_aggregate=2)
        appended = during + after
        records = await watcher.wait_for(lambda r: header(r, "ce_firmid") == firm, count=len(appended))
        await eventually(lambda: outbox_empty(pool), timeout=30)
        still = await lease_holder(pool)
        assert still is not None
        assert pid_of(still["holder"]) == standby.process.pid

    published = [header(r, "ce_id") for r in records]
    assert sorted(published) == sorted(e.id for e in appended)  # each once: never two relays at a time


async def outbox_empty(pool: asyncpg.Pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM outbox") == 0
