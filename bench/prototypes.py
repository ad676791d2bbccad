"""Prototypes of runtime fixes, measured beside the runtime as it is (see bench/README.md, figure 3).

They exist to prove a fix's gain before it is made in libs/runtime; delete each once the runtime has it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Iterator, Sequence

import asyncpg

from paylinks_events import Envelope, ce_headers
from paylinks_runtime import outbox_relay
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.outbox_relay import OutboxRelay

BACKLOG_INTERVAL = 1.0  # seconds; Prometheus scrapes every 15 s or so


class OwnConnectionRelay(OutboxRelay):
    """The relay on the connection that holds its leadership lock, instead of one from the shared pool,
    and its backlog gauges refreshed at most once a second instead of after every batch.

    As it is, every batch waits in the pool's queue behind the command handlers (the writers): under load
    the relay is starved exactly when the outbox grows. The leader connection is idle between batches.
    The backlog query is a count(*) over the outbox, dead rows included: O(backlog) per batch, a fifth
    of the time of a large drain.
    """

    _conn: asyncpg.Connection
    _backlog_updated = 0.0

    async def _wait_for_leadership(self, conn: asyncpg.Connection) -> None:
        await super()._wait_for_leadership(conn)
        self._conn = conn

    async def publish_batch(self) -> int:
        rows = await self._conn.fetch(
            "SELECT id, topic, key, headers, value, created_at FROM outbox ORDER BY id LIMIT $1",
            self._batch_size,
        )
        if rows:
            await self._send_all(rows)
            await self._conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        if time.monotonic() - self._backlog_updated >= BACKLOG_INTERVAL:
            await self._update_backlog(self._conn)
            self._backlog_updated = time.monotonic()
        return len(rows)


@contextlib.contextmanager
def cached_tracer() -> Iterator[None]:
    """`tracing.tracer()` made once, not per event: `trace.get_tracer` builds a new SDK Tracer each call."""
    original = outbox_relay.tracer
    outbox_relay.tracer = functools.cache(original)
    try:
        yield
    finally:
        outbox_relay.tracer = original


_APPEND = """
WITH appended AS (
    INSERT INTO events (stream_id, version, stream_type, event_id, event_type, schema_version, firm_id, data)
    SELECT $1, v, $2, id, t, sv, f, d::jsonb
    FROM unnest($3::int[], $4::uuid[], $5::text[], $6::int[], $7::text[], $8::text[]) AS u(v, id, t, sv, f, d)
)
INSERT INTO outbox (event_id, topic, key, headers, value)
SELECT id::text, topic, key, h::jsonb, convert_to(d, 'UTF8')
FROM unnest($4::uuid[], $9::text[], $10::text[], $11::text[], $8::text[]) AS o(id, topic, key, h, d)
"""


async def append_in_one_statement(
    conn: asyncpg.Connection,
    stream_id: str,
    stream_type: str,
    expected_version: int,
    envelopes: Sequence[Envelope],
) -> int:
    """`event_store.append` with each event encoded once, by pydantic's JSON encoder (byte-identical to
    `encode_data`, without the dict round trip), and the events and outbox rows written by ONE statement:
    one round trip instead of two, the data sent once instead of twice."""
    if not envelopes:
        return expected_version
    versions = list(range(expected_version + 1, expected_version + 1 + len(envelopes)))
    try:
        await conn.execute(
            _APPEND,
            stream_id,
            stream_type,
            versions,
            [e.id for e in envelopes],
            [e.type for e in envelopes],
            [e.event.schema_version for e in envelopes],
            [e.event.firm_id for e in envelopes],
            [e.event.model_dump_json() for e in envelopes],
            [e.topic for e in envelopes],
            [e.subject for e in envelopes],
            [json.dumps([(k, v.decode()) for k, v in ce_headers(e)]) for e in envelopes],
        )
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrencyError(f"stream {stream_id} is past version {expected_version}") from exc
    return versions[-1]
