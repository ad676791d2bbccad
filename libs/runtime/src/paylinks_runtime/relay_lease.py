"""Leadership of a schema's outbox relay as a lease in Postgres: a row with a holder, an epoch and an
expiry that the leader renews and a standby sees expire.

An advisory lock lives as long as the session, and a frozen (SIGSTOP) or partitioned leader keeps its
session for as long as TCP does: the standby never takes over. A lease expires on the database's clock
whatever the holder does. Two fences keep an old leader from acting after it lost the lease:
- on its own clock (monotonic, which runs on while a process is stopped): it publishes only while the
  time since its last successful renewal is under the lease, less a margin, so a leader that wakes from
  a freeze longer than that knows before sending anything;
- in the database: its statements on the outbox carry its epoch and do nothing once another holds it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import asyncpg
import structlog

from .metrics import RELAY_LEADER

log = structlog.get_logger(__name__)


class LeaseLost(Exception):
    """This relay no longer holds the lease: stop publishing and compete for it again."""


class RelayLease:
    def __init__(self, service: str, *, lease_seconds: float = 10.0) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.epoch = 0
        self._service = service
        self._seconds = lease_seconds
        self._renew_every = lease_seconds / 4
        # A renewal's round trip counts against the lease: stop trusting it well before the server would.
        self._trust_for = lease_seconds * 0.6
        self._renewed_at = float("-inf")

    async def try_acquire(self, conn: asyncpg.Connection) -> bool:
        """Take the lease if nobody holds it or its holder let it expire; a new holder gets a new epoch."""
        started = time.monotonic()
        epoch = await conn.fetchval(
            "INSERT INTO outbox_relay_lease (holder, epoch, expires_at)"
            " VALUES ($1, 1, now() + make_interval(secs => $2))"
            " ON CONFLICT (singleton) DO UPDATE"
            " SET holder = excluded.holder, epoch = outbox_relay_lease.epoch + 1,"
            " expires_at = excluded.expires_at"
            " WHERE outbox_relay_lease.expires_at < now()"
            " RETURNING epoch",
            self.holder,
            self._seconds,
        )
        if epoch is None:
            return False
        self.epoch, self._renewed_at = epoch, started
        RELAY_LEADER.labels(self._service).set(1)
        log.info("outbox relay took the lease", holder=self.holder, epoch=epoch)
        return True

    async def keep(self, conn: asyncpg.Connection) -> None:
        """Renew the lease when due; raise LeaseLost if it ran out here or another relay holds it."""
        self.check()
        if time.monotonic() - self._renewed_at < self._renew_every:
            return
        started = time.monotonic()
        renewed = await conn.fetchval(
            "UPDATE outbox_relay_lease SET expires_at = now() + make_interval(secs => $3)"
            " WHERE holder = $1 AND epoch = $2 AND expires_at > now() RETURNING true",
            self.holder,
            self.epoch,
            self._seconds,
        )
        if not renewed:
            self._lose("another relay holds the lease or it expired")
        self._renewed_at = started

    def check(self) -> None:
        """Raise LeaseLost unless the last renewal is recent enough to trust (see the module's doc)."""
        if time.monotonic() - self._renewed_at >= self._trust_for:
            self._lose("the lease ran out on this relay's clock (frozen or cut off?)")

    async def release(self, conn: asyncpg.Connection) -> None:
        """Give the lease up at shutdown, so a standby need not wait for it to expire."""
        await conn.execute(
            "UPDATE outbox_relay_lease SET expires_at = now() WHERE holder = $1 AND epoch = $2",
            self.holder,
            self.epoch,
        )
        self._renewed_at = float("-inf")
        RELAY_LEADER.labels(self._service).set(0)

    def _lose(self, why: str) -> None:
        self._renewed_at = float("-inf")
        RELAY_LEADER.labels(self._service).set(0)
        log.warning("outbox relay lost the lease", holder=self.holder, epoch=self.epoch, reason=why)
        raise LeaseLost(why)
