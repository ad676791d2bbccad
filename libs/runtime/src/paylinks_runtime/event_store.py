"""Append-only event streams in Postgres with optimistic concurrency, written together with the outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from paylinks_events import Envelope, Event, ce_headers_json, decode_event, encode_data

from .aggregate import Aggregate

A = TypeVar("A", bound=Aggregate)


class ConcurrencyError(Exception):
    """Another writer appended to the stream first; reload and decide again."""


@dataclass(frozen=True)
class StoredEvent:
    version: int
    event_id: str
    event: Event


async def load_stream(conn: asyncpg.Connection, stream_id: str) -> list[StoredEvent]:
    rows = await conn.fetch(
        "SELECT version, event_id, event_type, schema_version, data FROM events"
        " WHERE stream_id = $1 ORDER BY version",
        stream_id,
    )
    return [stored_event(stream_id, row) for row in rows]


def stored_event(stream_id: str, row: asyncpg.Record) -> StoredEvent:
    """One of the stream's events from a row of its version, event_id, event_type, schema_version and data."""
    event = decode_event(row["event_type"], json.loads(row["data"]), row["schema_version"])
    if event is None:
        raise RuntimeError(f"stream {stream_id} holds unknown event type {row['event_type']}")
    return StoredEvent(row["version"], str(row["event_id"]), event)


# Events and their outbox rows in ONE statement (a data-modifying CTE always runs to completion): a
# 1-event transaction is BEGIN, this, COMMIT, and each event's JSON crosses the wire once, as the outbox
# value, `events.data` being cast from it. `s` is the stored form where it differs from the published one
# ($9 is NULL when none does: unnest pads it with NULLs). An event's version is the expected version ($3)
# plus its place in the arrays. Each array element costs asyncpg's encoder 0.2-0.4 us of Python, so what SQL
# can derive is not sent.
_INSERT_EVENTS = """
    INSERT INTO events (stream_id, version, stream_type, event_id, event_type, schema_version, firm_id, data)
    SELECT $1, $3::int + n::int, $2, id::uuid, t, sv, f, convert_from(coalesce(s, d), 'UTF8')::json
    FROM unnest($4::text[], $5::text[], $6::int[], $7::text[], $8::bytea[], $9::bytea[]) WITH ORDINALITY
        AS u(id, t, sv, f, d, s, n)"""
_INSERT_OUTBOX = """
    INSERT INTO outbox (event_id, topic, key, headers, value)
    SELECT * FROM unnest($4::text[], $10::text[], $11::text[], $12::json[], $8::bytea[])"""
_APPEND = f"WITH appended AS ({_INSERT_EVENTS}\n){_INSERT_OUTBOX}"

# A batch of this many events or more is appended by binary COPY instead (`_copy_in`): four round trips
# instead of one, but each event's fields skip asyncpg's array encoder (two ABC isinstance checks per
# element). Events/s beside the statement, 8 writers (bench/README.md, session of 2026-12-05 midday): -15 %
# at 1 event a transaction, -25 % at 4, even at 10 and 25, +3 % at 50, +5-8 % at 100.
COPY_FROM_EVENTS = 50
_EVENT_COLUMNS = (
    "stream_id",
    "version",
    "stream_type",
    "event_id",
    "event_type",
    "schema_version",
    "firm_id",
    "data",
)
_OUTBOX_COLUMNS = ("event_id", "topic", "key", "headers", "value")

# `append_when`'s guard takes its parameters from here on (the append's own are $1 to $12).
GUARD_FIRST_PARAMETER = 13


def _append_when(guard: str) -> str:
    """The append, run only when `guard` (a data-modifying statement with RETURNING) returns a row."""
    return (
        f"WITH guard AS ({guard}),"  # noqa: S608 (the guard is a constant of the caller's code, not input)
        f" appended AS ({_INSERT_EVENTS} WHERE EXISTS (SELECT FROM guard)),"
        f" queued AS ({_INSERT_OUTBOX} WHERE EXISTS (SELECT FROM guard))"
        " SELECT EXISTS (SELECT FROM guard)"
    )


async def append(
    conn: asyncpg.Connection,
    stream_id: str,
    stream_type: str,
    expected_version: int,
    envelopes: Sequence[Envelope],
    stored: Sequence[Event] | None = None,
) -> int:
    """Append events after `expected_version` and enqueue them for publishing, in the caller's transaction.

    `stored`, when given, is what the store keeps of each envelope's event (same order); the outbox
    publishes the envelopes as they are. Raises ConcurrencyError when the stream moved on; the caller's
    transaction is then unusable and nothing of this append is kept. A batch of COPY_FROM_EVENTS or more
    goes in by COPY when the caller holds a transaction (two COPYs are atomic only inside one).
    """
    if not envelopes:
        return expected_version
    kept = stored if stored is not None else [e.event for e in envelopes]
    _check_stored_forms(envelopes, kept)
    try:
        if len(envelopes) >= COPY_FROM_EVENTS and conn.is_in_transaction():
            await _copy_in(conn, stream_id, stream_type, expected_version, envelopes, kept)
        else:
            await conn.execute(_APPEND, stream_id, stream_type, expected_version, *_columns(envelopes, kept))
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrencyError(f"stream {stream_id} is past version {expected_version}") from exc
    return expected_version + len(envelopes)


async def append_when(
    conn: asyncpg.Connection,
    guard: str,
    guard_args: Sequence[object],
    stream_id: str,
    stream_type: str,
    expected_version: int,
    envelopes: Sequence[Envelope],
    stored: Sequence[Event],
) -> int | None:
    """`append`, in ONE statement with the caller's `guard` and only if the guard returns a row: a write
    and the events it causes in a single round trip, atomic without BEGIN and COMMIT. The guard's
    parameters are numbered from GUARD_FIRST_PARAMETER. Returns the stream's new version, or None when the
    guard returned nothing (then nothing of the statement is kept, nor appended). Raises ConcurrencyError
    as `append` does."""
    if not envelopes:
        raise ValueError("append_when needs events to append")
    _check_stored_forms(envelopes, stored)
    columns = _columns(envelopes, stored)
    try:
        guarded = await conn.fetchval(
            _append_when(guard), stream_id, stream_type, expected_version, *columns, *guard_args
        )
    except asyncpg.UniqueViolationError as exc:
        raise ConcurrencyError(f"stream {stream_id} is past version {expected_version}") from exc
    return expected_version + len(envelopes) if guarded else None


async def enqueue(conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
    """Put events in the outbox (in the caller's transaction): the relay publishes them after commit."""
    if not envelopes:
        return
    rows = [_fields(e, e.event) for e in envelopes]
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, headers, value)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::json[], $5::bytea[])",
        *([row[i] for row in rows] for i in _OUTBOX_FIELDS),
    )


def _check_stored_forms(envelopes: Sequence[Envelope], kept: Sequence[Event]) -> None:
    if len(kept) != len(envelopes):
        raise ValueError(f"{len(kept)} stored forms for {len(envelopes)} events")


# What the store writes of one event, in `_APPEND`'s order from $4 on: id, type, schema version, firm, value
# (the published JSON), stored value (None when stored as published), topic, key, headers (JSON).
_Fields = tuple[str, str, int, str, bytes, bytes | None, str, str, str]
_OUTBOX_FIELDS = (0, 6, 7, 8, 4)  # an outbox row's: event_id, topic, key, headers, value


def _fields(envelope: Envelope, stored: Event) -> _Fields:
    """One event's fields, each encoded once. The type is the published event's; schema version and firm
    are the stored form's, as its JSON is."""
    event = envelope.event
    return (
        envelope.id,
        event.type_name(),
        stored.schema_version,
        stored.firm_id,
        encode_data(event),
        None if stored is event else encode_data(stored),
        event.topic,
        event.aggregate_id,
        ce_headers_json(envelope),
    )


async def _copy_in(
    conn: asyncpg.Connection,
    stream_id: str,
    stream_type: str,
    expected_version: int,
    envelopes: Sequence[Envelope],
    kept: Sequence[Event],
) -> None:
    """The rows `_APPEND` writes, by two binary COPYs. An event's JSON crosses the wire twice here (the
    events' text, the outbox's bytes), but no element goes through asyncpg's array encoder."""
    events, outbox = [], []
    for version, (e, stored) in enumerate(zip(envelopes, kept, strict=True), start=expected_version + 1):
        event_id, type_name, schema_version, firm, value, stored_value, topic, key, headers = _fields(
            e, stored
        )
        data = (stored_value or value).decode()
        events.append((stream_id, version, stream_type, event_id, type_name, schema_version, firm, data))
        outbox.append((event_id, topic, key, headers, value))
    await conn.copy_records_to_table("events", records=events, columns=_EVENT_COLUMNS)
    await conn.copy_records_to_table("outbox", records=outbox, columns=_OUTBOX_COLUMNS)


def _columns(envelopes: Sequence[Envelope], kept: Sequence[Event]) -> list[list[object] | None]:
    """The columns of `_APPEND` from $4 on: `_fields` of every event, column by column; the stored forms
    None when every event is stored as published."""
    rows = [_fields(e, stored) for e, stored in zip(envelopes, kept, strict=True)]
    columns: list[list[object] | None] = [list(column) for column in zip(*rows, strict=True)]
    if not any(row[5] for row in rows):  # an encoded event is never empty
        columns[5] = None
    return columns


async def load_aggregate(conn: asyncpg.Connection, cls: type[A], aggregate_id: str) -> A:
    stored = await load_stream(conn, aggregate_id)
    return cls.replay(aggregate_id, (s.event for s in stored))
