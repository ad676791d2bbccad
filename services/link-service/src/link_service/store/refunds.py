"""Refund requests (see migrations/0004) behind one port: Postgres in the service, in memory in unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import asyncpg

from ..processor import RefundRequest

SendState = Literal["sending", "sent", "refused"]


@dataclass(frozen=True)
class RefundSend:
    """A refund on its way to the processor: what to send, and how far it got."""

    request: RefundRequest
    state: SendState
    refusal_code: str | None = None


class RefundTables(Protocol):
    async def record(self, request: RefundRequest) -> None: ...

    async def find(self, refund_id: str, *, lock: bool = False) -> RefundSend | None: ...

    async def mark(self, refund_id: str, state: SendState, refusal_code: str | None = None) -> None: ...

    async def stranded(self, older_than_seconds: float) -> list[RefundSend]: ...


_FIND = "SELECT * FROM refund_requests WHERE refund_id = $1"
_FIND_LOCKED = _FIND + " FOR UPDATE"  # the request and the recovery may both record an answer


class PostgresRefundTables:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, request: RefundRequest) -> None:
        await self._conn.execute(
            "INSERT INTO refund_requests (refund_id, payment_id, amount, state)"
            " VALUES ($1, $2, $3, 'sending')",
            request.refund_id,
            request.payment_id,
            request.amount,
        )

    async def find(self, refund_id: str, *, lock: bool = False) -> RefundSend | None:
        query = _FIND_LOCKED if lock else _FIND
        row = await self._conn.fetchrow(query, refund_id)
        return _send(row) if row else None

    async def mark(self, refund_id: str, state: SendState, refusal_code: str | None = None) -> None:
        await self._conn.execute(
            "UPDATE refund_requests SET state = $2, refusal_code = $3, updated_at = now()"
            " WHERE refund_id = $1",
            refund_id,
            state,
            refusal_code,
        )

    async def stranded(self, older_than_seconds: float) -> list[RefundSend]:
        rows = await self._conn.fetch(
            "SELECT * FROM refund_requests WHERE state = 'sending'"
            " AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 50",
            older_than_seconds,
        )
        return [_send(row) for row in rows]


def _send(row: asyncpg.Record) -> RefundSend:
    request = RefundRequest(row["refund_id"], row["payment_id"], row["amount"])
    return RefundSend(request, row["state"], row["refusal_code"])
