"""The rebuild's bulk load: the read model built set-based from raw events instead of event by event.

1. While the topics are read, every event of a type the projection uses is COPYed a batch at a time into an
   unindexed, unlogged table of its type (`raw_<type>`, the event's JSON as jsonb, its read order `seq`,
   and whether it is the first delivery of its event id). No planner, no upsert per event, no statement
   but the COPY.
   - The two types that make nearly all of the volume (PaymentReceived, PaymentProcessed) are not decoded
     by pydantic: their CloudEvents headers are checked as `from_record` checks them, and their JSON is
     copied as read once it fits a msgspec Struct that accepts only what the contract's model accepts, in
     forms Postgres reads as pydantic does (`SHAPES`: types, lengths, literals, patterns, strict integers,
     RFC 3339 timestamps with an offset and a real date). A record that does not fit is decoded by
     `from_record` like every other: poison is skipped and logged as the replay always did, a valid event
     in another form is copied as pydantic writes it back.
   - Every other type is decoded by `from_record` and copied as pydantic writes it back (canonical).
2. Then each read-model table is built by one `INSERT ... SELECT` over the raw tables (payments by one for
   each of its PAYMENT_PARTS, side by side; the history by one for each busy type, from the first delivery
   of each event id), with the same rules as
   the per-event projection (projection.py, projection_money.py, projection_store.py): a column owned by one
   event type takes that type's last event of the key (`DISTINCT ON ... ORDER BY seq DESC`), what an upsert
   only fills when missing (`COALESCE(payments.x, EXCLUDED.x)`) comes after the owner's value, the link
   change with the greatest (time, event id) wins, a payment paid out twice keeps the least payout id, and
   what the projection inserts `ON CONFLICT DO NOTHING` (history, fees, payouts, ledger movements) keeps the
   first. The primary keys and indexes are created afterwards, over the whole table (the keys also check
   that the build made one row per key), each index in a step of its own.
3. What the bulk path does not take is applied after it by the per-event projection (the projection is
   order-free, so applying it later gives the same rows): an event type the projection uses but that has no
   set-based build here, an event whose JSON Postgres would refuse or could not cast (a `\\u` escape such as
   NUL, an integer of 19 digits or more, a NUL in its id or source), and the events of a batch whose
   statement failed (its JSON not JSON): there the per-event path's own handling applies (a batch that fails
   is applied event by event, an event that fails is skipped and logged).
"""

# Every statement here is made of this module's constant fragments (table and column names): no input.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
import structlog
from aiokafka.structs import ConsumerRecord
from msgspec import Meta, Struct

from paylinks_events import EVENT_TYPES, Envelope, PoisonRecord, from_record, header_map

from .projection import PLANNERS

log = structlog.get_logger(__name__)

# The events the bulk load takes, by type name, and the raw table each goes to.
RAW_TABLES: dict[str, str] = {
    "BankAccountRegistered": "raw_bank_account_registered",
    "ContactCreated": "raw_contact_created",
    "MatterOpened": "raw_matter_opened",
    "BillIssued": "raw_bill_issued",
    "PaymentReceived": "raw_payment_received",
    "PaymentProcessed": "raw_payment_processed",
    "PaymentFailed": "raw_payment_failed",
    "PaymentUnallocated": "raw_payment_unallocated",
    "PaymentLinked": "raw_payment_linked",
    "PaymentUnlinked": "raw_payment_unlinked",
    "PaymentReturned": "raw_payment_returned",
    "RefundRequested": "raw_refund_requested",
    "RefundSucceeded": "raw_refund_succeeded",
    "RefundFailed": "raw_refund_failed",
    "PaymentDisputed": "raw_payment_disputed",
    "DisputeClosed": "raw_dispute_closed",
    "FeeCharged": "raw_fee_charged",
    "PayoutPaid": "raw_payout_paid",
}
PROJECTED: frozenset[str] = frozenset(t.type_name() for t in PLANNERS.event_types)

# Postgres refuses NUL in text and jsonb, a lone surrogate in jsonb, and a bigint past 19 digits: such an
# event goes the per-event way, whose failure handling then applies to it alone.
_ESCAPE = "\\u"
_ESCAPE_BYTES = _ESCAPE.encode()
_LONG_NUMBER = re.compile(r"\d{19}")
# An offset of 15 hours or more: Python has them, Postgres refuses to read them.
_FAR_OFFSET = re.compile(r'[-+](1[5-9]|2[0-9]):[0-9]{2}"')
Row = tuple[int, str, str, bool, str]  # seq, event id, source, first delivery of its id, JSON


def decode(record: ConsumerRecord) -> Envelope | None:
    """The record's event, or None for a type no reader knows or a record that cannot be decoded (skipped
    and logged: the live consumer dead-lettered it)."""
    try:
        return from_record(record.value, record.headers)
    except PoisonRecord as exc:
        log.warning(
            "rebuild skipped an undecodable record",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=str(exc),
        )
        return None


@dataclass
class Batch:
    """The rows of one batch by raw table, the records copied undecoded (by seq), and the events decoded
    here (for a batch Postgres refuses: the records are then decoded, the events applied per event)."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    undecoded: dict[int, ConsumerRecord] = field(default_factory=dict)
    decoded: list[Envelope] = field(default_factory=list)


class BulkLoad:
    """The raw rows of the events read, a batch at a time; the events left for the per-event path; how many
    events were read (every decoded one, as the per-event replay counts them). A load read by several
    processes numbers the rows of process `part` of `parts` part + parts, part + 2 parts, ..."""

    def __init__(self, part: int = 0, parts: int = 1) -> None:
        self.per_event: list[Envelope] = []
        self.events = 0
        self.loaded = 0  # rows given to the raw tables' batches
        self._batch = Batch()
        self._seen: set[str] = set()
        self._seq = part
        self._step = parts

    def add_record(self, record: ConsumerRecord) -> None:
        """A record as read: copied undecoded if its type has a shape and its JSON fits it (see SHAPES),
        else decoded here."""
        row = self._undecoded_row(record)
        if row is None:
            if (envelope := decode(record)) is not None:
                self.add(envelope)
            return
        table, event_id, source, text = row
        self.events += 1
        self._seq += self._step
        self.loaded += 1
        self._batch.undecoded[self._seq] = record
        first = event_id not in self._seen
        self._seen.add(event_id)
        self._batch.rows.setdefault(table, []).append((self._seq, event_id, source, first, text))

    def add(self, envelope: Envelope) -> None:
        """A decoded event."""
        self.events += 1
        name = envelope.type
        if name not in RAW_TABLES:
            if name in PROJECTED:
                self.per_event.append(envelope)
            return  # a type the projection ignores: so does the rebuild
        first = True  # the first delivery of its event id, for the history (which keeps the first)
        if name in _IN_HISTORY:
            first = envelope.id not in self._seen
            self._seen.add(envelope.id)
        self._seq += self._step
        self._add_decoded(self._batch, envelope, self._seq, first)

    def _add_decoded(self, batch: Batch, envelope: Envelope, seq: int, first: bool) -> None:
        """The event as pydantic writes it back, into the batch; or to the per-event path when Postgres
        could refuse it."""
        data = envelope.event.model_dump_json()
        if (
            _ESCAPE in data
            or _LONG_NUMBER.search(data)
            or _FAR_OFFSET.search(data)
            or "\x00" in envelope.id + envelope.source
        ):
            self.per_event.append(envelope)
            return
        self.loaded += 1
        batch.decoded.append(envelope)
        batch.rows.setdefault(RAW_TABLES[envelope.type], []).append(
            (seq, envelope.id, envelope.source, first, data)
        )

    def take(self) -> Batch:
        """The batch added since the last call."""
        batch, self._batch = self._batch, Batch()
        return batch

    def decoded_again(self, batch: Batch) -> Batch:
        """The batch with every record it copied undecoded decoded here instead (poison skipped and logged),
        copied as pydantic writes it back: for a batch Postgres refused (a number its jsonb cannot hold in a
        field the model ignores, say)."""
        retry = Batch(decoded=list(batch.decoded))
        for table, rows in batch.rows.items():
            for row in rows:
                if (record := batch.undecoded.get(row[0])) is None:  # decoded already
                    retry.rows.setdefault(table, []).append(row)
                elif (envelope := decode(record)) is None:
                    self.events -= 1
                else:
                    self._add_decoded(retry, envelope, row[0], row[3])
        return retry

    def refused_whole(self, batch: Batch) -> None:
        """A batch Postgres refused: every event of it goes the per-event way (its undecoded records
        decoded here, poison skipped and logged)."""
        log.warning("a batch of the rebuild's bulk load was refused whole; applying it per event")
        self.per_event += batch.decoded
        for record in batch.undecoded.values():
            if (envelope := decode(record)) is None:
                self.events -= 1
            else:
                self.per_event.append(envelope)

    @staticmethod
    def _undecoded_row(record: ConsumerRecord) -> tuple[str, str, str, str] | None:
        """(raw table, event id, source, JSON) of a record whose headers pass every check `from_record`
        makes and whose JSON fits its type's shape; None for any other."""
        try:
            attrs = header_map(record.headers)
        except PoisonRecord:
            return None
        name = attrs.get("ce_type", "")
        if name not in SHAPES:
            return None
        event_id, source = attrs.get("ce_id"), attrs.get("ce_source")
        if not event_id or not source or attrs.get("ce_specversion") != "1.0":
            return None
        if attrs.get("ce_schemaversion", "1") != str(EVENT_TYPES[name].schema_version):
            return None
        if "\x00" in event_id or "\x00" in source or not _aware(attrs.get("ce_time")):
            return None
        value = record.value
        if value is None or _ESCAPE_BYTES in value or not _fits(name, value):
            return None
        try:
            return RAW_TABLES[name], event_id, source, value.decode()
        except UnicodeDecodeError:  # in a field the shape skips
            return None


def _aware(raw: str | None) -> bool:
    """`ce_time` as `from_record` takes it: absent, or RFC 3339 with an offset."""
    if not raw:
        return True
    try:
        return datetime.fromisoformat(raw).tzinfo is not None
    except ValueError:
        return False


# --- the shapes a record's JSON must have to be copied undecoded ------------------------------------------
# msgspec Structs that accept only what the contract's model accepts, in forms Postgres reads as pydantic
# does (strict integers of at most 18 digits, RFC 3339 timestamps with an offset, at most microseconds and a
# real day, `\Z` where pydantic's `$` is the end of the text); a field the build reads is never left out.
# What they refuse goes to pydantic. Test: test_rebuild_bulk.py (variants), test_bulk_load.py (fields).

_RFC3339 = (
    "^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    "([.][0-9]{1,6})?(Z|[-+](0[0-9]|1[0-4]):[0-5][0-9])\\Z"
)
_Amount = Annotated[int, Meta(ge=1, le=10**18 - 1)]
_Fee = Annotated[int, Meta(ge=0, le=10**18 - 1)]
_FirmId = Annotated[str, Meta(min_length=1)]
_Name = Annotated[str, Meta(min_length=1, max_length=200)]
_Method = Literal["card", "echeck"]

# A field with a `pattern` is checked by msgspec through Python's `re` at 0.7-1.0 us a field, three times what
# the rest of a record's decode costs: the patterned fields are checked in `__post_init__` instead (a
# ValueError there refuses the record as a constraint would), by one compiled pattern or by string methods.
_STAMP = re.compile(_RFC3339)


def _stamp(value: str) -> None:
    """RFC 3339 with an offset, on a day that exists in its month (the pattern takes day 31 of any)."""
    if _STAMP.match(value) is None:
        raise ValueError("not an RFC 3339 timestamp with an offset")
    if value[8:10] > "28":
        date(int(value[:4]), int(value[5:7]), int(value[8:10]))


def _currency(code: str) -> None:
    """Three capital letters, A to Z (ASCII letters, all upper case)."""
    if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
        raise ValueError("not a currency code")


def _last4(digits: str | None) -> None:
    """Absent, or four digits, 0 to 9."""
    if digits is not None and not (len(digits) == 4 and digits.isascii() and digits.isdigit()):
        raise ValueError("not four digits")


class _Payer(Struct):
    name: _Name
    email: Annotated[str, Meta(max_length=320)]


class _Authorization(Struct):
    text_version: Annotated[str, Meta(min_length=1, max_length=100)]
    accepted_at: str
    name: _Name

    def __post_init__(self) -> None:
        _stamp(self.accepted_at)


class _Received(Struct):
    firm_id: _FirmId
    payment_id: str
    bank_account_id: str
    source: Literal["bank_account_link", "bill_link", "qr_code", "other"]
    amount: _Amount
    method: _Method
    payer: _Payer
    received_at: str
    link_id: str | None = None
    bill_id: str | None = None
    currency: str = "USD"
    reference: str | None = None
    card_brand: str | None = None
    last4: str | None = None
    authorization: _Authorization | None = None

    def __post_init__(self) -> None:
        _stamp(self.received_at)
        _currency(self.currency)
        _last4(self.last4)


class _Processed(Struct):
    firm_id: _FirmId
    payment_id: str
    bank_account_id: str
    amount: _Amount
    method: _Method
    processed_at: str
    bill_id: str | None = None
    currency: str = "USD"
    fee: _Fee = 0

    def __post_init__(self) -> None:
        _stamp(self.processed_at)
        _currency(self.currency)


# By type name: the decoder whose Struct a record's JSON must fit to be copied undecoded.
SHAPES: dict[str, msgspec.json.Decoder[Any]] = {
    "PaymentReceived": msgspec.json.Decoder(_Received),
    "PaymentProcessed": msgspec.json.Decoder(_Processed),
}


def _fits(name: str, value: bytes) -> bool:
    try:
        SHAPES[name].decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


# --- the history rows a batch makes ------------------------------------------------------------------------


def _history(type_name: str, at: str, actor: str, *details: str) -> str:
    """The history rows of a type's raw table, one per event id (its first delivery), as projection.py's
    `add_history` writes them; a detail the JSON may lack takes the model's default."""
    defaults = {"currency": "'\"USD\"'::jsonb", "fee": "'0'::jsonb"}
    pairs = ", ".join(
        f"'{name}', coalesce(d->'{name}', {defaults[name]})" if name in defaults else f"'{name}', d->'{name}'"
        for name in details
    )
    return (
        "INSERT INTO payment_history (event_id, firm_id, payment_id, type, at, actor, details)"
        f" SELECT id, d->>'firm_id', d->>'payment_id', '{type_name}', (d->>'{at}')::timestamptz, {actor},"
        f" jsonb_build_object({pairs}) FROM {RAW_TABLES[type_name]} WHERE first_seen"
    )


_HISTORY: dict[str, str] = {
    "PaymentReceived": _history(
        "PaymentReceived", "received_at", "source", "amount", "currency", "source", "bill_id"
    ),
    "PaymentProcessed": _history("PaymentProcessed", "processed_at", "source", "fee"),
    "PaymentFailed": _history("PaymentFailed", "failed_at", "source", "reason"),
    "PaymentUnallocated": _history(
        "PaymentUnallocated", "unallocated_at", "source", "amount", "bill_id", "reason"
    ),
    "PaymentLinked": _history("PaymentLinked", "linked_at", "d->>'linked_by'", "contact_id", "matter_id"),
    "PaymentUnlinked": _history("PaymentUnlinked", "unlinked_at", "d->>'unlinked_by'", "reason"),
    "PaymentReturned": _history("PaymentReturned", "returned_at", "source", "amount", "reason"),
    "RefundRequested": _history(
        "RefundRequested", "requested_at", "d->>'requested_by'", "refund_id", "amount", "reason"
    ),
    "RefundSucceeded": _history("RefundSucceeded", "succeeded_at", "source", "refund_id", "amount"),
    "RefundFailed": _history("RefundFailed", "failed_at", "source", "refund_id", "reason"),
    "PaymentDisputed": _history(
        "PaymentDisputed", "disputed_at", "source", "dispute_id", "amount", "reason", "evidence_due_by"
    ),
    "DisputeClosed": _history("DisputeClosed", "closed_at", "source", "dispute_id", "outcome", "amount"),
}
# The types that write a payment_history row (one per event id: the first delivery of an id writes it).
_IN_HISTORY: frozenset[str] = frozenset(_HISTORY)


def quote(identifier: str) -> str:
    """An SQL identifier, quoted (schema and table names are made at run time)."""
    return '"' + identifier.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """A table or index of `schema`, by its quoted qualified name."""
    return f"{quote(schema)}.{quote(name)}"


@dataclass
class Restore:
    """What the load set aside of a table, to give back once the table is built: first its keys and the
    fill of its pages (each an ALTER TABLE, which locks the table whole), then its other indexes (CREATE
    INDEX shares the table: they are built side by side)."""

    alters: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)

    @property
    def statements(self) -> list[str]:
        return [*self.alters, *self.indexes]


async def set_aside_for_the_load(conn: asyncpg.Connection, schema: str) -> dict[str, Restore]:
    """Drop the keys and indexes of the tables of `schema`, and let the load fill their pages; return the
    statements that restore both, by table."""
    deferred: defaultdict[str, Restore] = defaultdict(Restore)
    for table, undo, redo in [*await _keys(conn, schema), *await _fills(conn, schema)]:
        await conn.execute(undo)
        deferred[table].alters.append(redo)
    for table, undo, redo in await secondary_indexes(conn, schema):
        await conn.execute(undo)
        deferred[table].indexes.append(redo)
    return dict(deferred)


# (table, the statement that sets it aside for the load, the statement that restores it once built)
SetAside = tuple[str, str, str]


async def _keys(conn: asyncpg.Connection, schema: str) -> list[SetAside]:
    keys = await conn.fetch(
        "SELECT t.relname AS table, c.conname, pg_get_constraintdef(c.oid) AS definition"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " WHERE c.connamespace = $1::regnamespace AND c.contype IN ('p', 'u') ORDER BY 1, 2",
        schema,
    )
    return [
        (
            key["table"],
            f"ALTER TABLE {qualified(schema, key['table'])} DROP CONSTRAINT {quote(key['conname'])}",
            f"ALTER TABLE {qualified(schema, key['table'])}"
            f" ADD CONSTRAINT {quote(key['conname'])} {key['definition']}",
        )
        for key in keys
    ]


async def secondary_indexes(conn: asyncpg.Connection, schema: str) -> list[SetAside]:
    """The indexes of `schema`'s tables that back no key (a key's index goes and comes with its key)."""
    indexes = await conn.fetch(
        "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = $1 AND NOT EXISTS"
        " (SELECT FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = $1::regnamespace)"
        " ORDER BY 1, 2",
        schema,
    )
    return [
        (index["tablename"], f"DROP INDEX {qualified(schema, index['indexname'])}", index["indexdef"])
        for index in indexes
    ]


async def _fills(conn: asyncpg.Connection, schema: str) -> list[SetAside]:
    """A table's fillfactor leaves room on each page for the live projection's later updates of its rows
    (migration 0005). A row the build writes has had those updates already: its pages are filled full, and
    the fillfactor applies again to the pages written after the switch."""
    fills = await conn.fetch(
        "SELECT c.relname AS table, o.option_value AS fill"
        " FROM pg_class c, pg_options_to_table(c.reloptions) o WHERE c.relnamespace = $1::regnamespace"
        " AND c.relkind = 'r' AND o.option_name = 'fillfactor' ORDER BY 1",
        schema,
    )
    return [
        (
            fill["table"],
            f"ALTER TABLE {qualified(schema, fill['table'])} RESET (fillfactor)",
            f"ALTER TABLE {qualified(schema, fill['table'])} SET (fillfactor = {int(fill['fill'])})",
        )
        for fill in fills
    ]


async def create_raw_tables(conn: asyncpg.Connection) -> None:
    """The raw tables, in the connection's schema (the staging one): unlogged, no index."""
    for table in RAW_TABLES.values():
        await conn.execute(
            f"CREATE UNLOGGED TABLE {table} (seq bigint NOT NULL, id text NOT NULL, source text NOT NULL,"
            " first_seen boolean NOT NULL, d jsonb NOT NULL)"
        )


async def drop_raw_tables(conn: asyncpg.Connection) -> None:
    for table in RAW_TABLES.values():
        await conn.execute(f"DROP TABLE IF EXISTS {table}")


async def copy_batch(conn: asyncpg.Connection, batch: Batch) -> bool:
    """Copy a batch into its raw tables, in one transaction on `conn`; False when Postgres refused it
    (nothing of it is kept)."""
    try:
        async with conn.transaction():
            for table, rows in batch.rows.items():
                await conn.copy_records_to_table(table, records=rows)
    except asyncpg.PostgresError as exc:
        log.warning("a batch of the rebuild's bulk load failed", error=str(exc))
        return False
    return True


async def copy(conn: asyncpg.Connection, loading: BulkLoad, batch: Batch) -> None:
    """Copy a batch; one Postgres refuses is decoded here and copied again, or else left to the per-event
    path."""
    if batch.rows and not await copy_batch(conn, batch):
        batch = loading.decoded_again(batch)
        if not await copy_batch(conn, batch):
            loading.refused_whole(batch)


# A build's transactions: nothing reads the staging tables before the switch (whose own commit waits for the
# WAL), sorts and index builds get room, and no JIT (compiling the payments statement alone took ~0.6 s).
_BUILD_SETTINGS = (
    "SET LOCAL synchronous_commit = off; SET LOCAL work_mem = '256MB';"
    " SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL jit = off"
)


async def build(pool: asyncpg.Pool, deferred: Mapping[str, Restore], concurrency: int = 2) -> None:
    """Fill every read-model table from the raw tables, then give it back its keys and indexes
    (`deferred`). Each step is a transaction of its own, `concurrency` at a time in the order they become
    ready, the largest table first: a table's fill (payments' in PAYMENT_PARTS parts side by side), then its
    keys, then each of its other indexes. Any failure is raised."""
    gate = asyncio.Semaphore(concurrency)

    async def step(table: str, name: str, statements: Sequence[str]) -> None:
        if not statements:
            return
        async with gate, pool.acquire() as conn, conn.transaction():
            await conn.execute(_BUILD_SETTINGS)
            began = time.monotonic()
            for statement in statements:
                await conn.execute(statement)
            log.info("rebuild built", table=table, step=name, seconds=round(time.monotonic() - began, 3))

    async def build_table(table: str, fills: Sequence[str]) -> None:
        restore = deferred.get(table, Restore())
        await asyncio.gather(*(step(table, "fill", [fill]) for fill in fills))
        await step(table, "keys", restore.alters)
        await asyncio.gather(*(step(table, "index", [index]) for index in restore.indexes))

    missing = set(deferred) - set(BUILDS)
    if missing:
        raise RuntimeError(f"no set-based build for read-model table(s) {sorted(missing)}")
    tasks = [asyncio.create_task(build_table(table, fills)) for table, fills in BUILDS.items()]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _last(table: str, key: str, columns: str, where: str = "") -> str:
    """The last event (read order) of each key in a raw table, as columns extracted from its JSON."""
    return (
        f"SELECT DISTINCT ON ({key}) * FROM (SELECT seq, {columns} FROM {table} {where}) x"
        f" ORDER BY {key}, seq DESC"
    )


# --- one statement per read-model table ---------------------------------------------------------------------

_BANK_ACCOUNTS = f"""
INSERT INTO bank_accounts (firm_id, bank_account_id, name, kind, currency)
SELECT firm_id, bank_account_id, name, kind, currency FROM ({
    _last(
        "raw_bank_account_registered",
        "firm_id, bank_account_id",
        "d->>'firm_id' firm_id, d->>'bank_account_id' bank_account_id, d->>'name' name, d->>'kind' kind,"
        " d->>'currency' currency",
    )
}) b
"""

_CONTACTS = f"""
INSERT INTO contacts (firm_id, contact_id, name, email)
SELECT firm_id, contact_id, name, email FROM ({
    _last(
        "raw_contact_created",
        "firm_id, contact_id",
        "d->>'firm_id' firm_id, d->>'contact_id' contact_id, d->>'name' name, d->>'email' email",
    )
}) c
"""

_MATTERS = f"""
INSERT INTO matters (firm_id, matter_id, contact_id, name, number)
SELECT firm_id, matter_id, contact_id, name, number FROM ({
    _last(
        "raw_matter_opened",
        "firm_id, matter_id",
        "d->>'firm_id' firm_id, d->>'matter_id' matter_id, d->>'contact_id' contact_id, d->>'name' name,"
        " d->>'number' number",
    )
}) m
"""

_BILLS = f"""
INSERT INTO bills (firm_id, bill_id, matter_id, contact_id)
SELECT firm_id, bill_id, matter_id, contact_id FROM ({
    _last(
        "raw_bill_issued",
        "firm_id, bill_id",
        "d->>'firm_id' firm_id, d->>'bill_id' bill_id, d->>'matter_id' matter_id,"
        " d->>'contact_id' contact_id",
    )
}) b
"""

_PAYMENT_KEY = "d->>'firm_id' firm_id, d->>'payment_id' payment_id"

# Payments are built in this many parts side by side (by a hash of the payment id: every event of a payment
# falls in the same part), one per connection of the build: their statement is most of the build's time.
PAYMENT_PARTS = 2


def _payment_part(payment_id: str, part: int) -> str:
    """The rows whose payment (`payment_id`, an expression) falls in `part` of PAYMENT_PARTS."""
    return f"mod(abs(coalesce(hashtext({payment_id}), 0)::bigint), {PAYMENT_PARTS}) = {part}"


# PaymentReceived owns the description (its bill only when it names one); PaymentProcessed and
# PaymentUnallocated fill what is still unknown; every other column group has one owner.
def _payments(part: int) -> str:
    """The statement that builds the payments of one part."""
    mine = "WHERE " + _payment_part("d->>'payment_id'", part)
    return f"""
WITH r AS ({
        _last(
            "raw_payment_received",
            "firm_id, payment_id",
            f"{_PAYMENT_KEY}, d->>'bank_account_id' bank_account_id, d->>'bill_id' bill_id,"
            " d->>'link_id' link_id, d->>'source' source, (d->>'amount')::bigint amount,"
            " coalesce(d->>'currency', 'USD') currency, d->>'method' method,"
            " d->'payer'->>'name' payer_name, d->'payer'->>'email' payer_email,"
            " d->>'reference' reference, d->>'card_brand' card_brand, d->>'last4' last4,"
            " (d->>'received_at')::timestamptz received_at",
            mine,
        )
    }),
p AS ({
        _last(
            "raw_payment_processed",
            "firm_id, payment_id",
            f"{_PAYMENT_KEY}, d->>'bank_account_id' bank_account_id, d->>'bill_id' bill_id,"
            " (d->>'amount')::bigint amount, coalesce(d->>'currency', 'USD') currency, d->>'method' method,"
            " (d->>'processed_at')::timestamptz processed_at, coalesce((d->>'fee')::bigint, 0) fee",
            mine,
        )
    }),
f AS ({
        _last(
            "raw_payment_failed",
            "firm_id, payment_id",
            f"{_PAYMENT_KEY}, (d->>'failed_at')::timestamptz failed_at, d->>'reason' reason",
            mine,
        )
    }),
u AS ({
        _last(
            "raw_payment_unallocated",
            "firm_id, payment_id",
            f"{_PAYMENT_KEY}, d->>'bill_id' bill_id, d->>'currency' currency, (d->>'amount')::bigint amount,"
            " (d->>'unallocated_at')::timestamptz unallocated_at",
            mine,
        )
    }),
l AS (
    SELECT DISTINCT ON (firm_id, payment_id) * FROM (
        SELECT {_PAYMENT_KEY}, 'linked' link_state, d->>'contact_id' contact_id, d->>'matter_id' matter_id,
               d->>'linked_by' linked_by, (d->>'linked_at')::timestamptz linked_at,
               (d->>'linked_at')::timestamptz changed_at, id event_id
          FROM raw_payment_linked {mine}
        UNION ALL
        SELECT {_PAYMENT_KEY}, 'unlinked', NULL, NULL, NULL, NULL, (d->>'unlinked_at')::timestamptz, id
          FROM raw_payment_unlinked {mine}
    ) x
    ORDER BY firm_id, payment_id, changed_at DESC, event_id DESC
),
rt AS ({
        _last(
            "raw_payment_returned",
            "firm_id, payment_id",
            f"{_PAYMENT_KEY}, (d->>'amount')::bigint amount, d->>'reason' reason,"
            " (d->>'returned_at')::timestamptz returned_at",
            mine,
        )
    }),
po AS (
    SELECT d->>'firm_id' firm_id, line->>'payment_id' payment_id, min(d->>'payout_id') payout_id
      FROM raw_payout_paid, jsonb_array_elements(d->'lines') line
     WHERE line->>'type' = 'payment' AND {_payment_part("line->>'payment_id'", part)}
     GROUP BY 1, 2
)
INSERT INTO payments (firm_id, payment_id, bank_account_id, bill_id, link_id, source, amount, currency,
                      method, payer_name, payer_email, reference, card_brand, last4, received_at,
                      processed_at, fee, failed_at, failure_reason, unallocated_amount, unallocated_at,
                      link_state, contact_id, matter_id, linked_by, linked_at, link_changed_at, link_event_id,
                      returned_amount, returned_reason, returned_at, payout_id)
SELECT firm_id, payment_id, coalesce(r.bank_account_id, p.bank_account_id),
       coalesce(r.bill_id, p.bill_id, u.bill_id), r.link_id, r.source, coalesce(r.amount, p.amount),
       coalesce(r.currency, p.currency, u.currency), coalesce(r.method, p.method), r.payer_name,
       r.payer_email, r.reference, r.card_brand, r.last4, r.received_at,
       p.processed_at, p.fee, f.failed_at, f.reason, u.amount, u.unallocated_at,
       l.link_state, l.contact_id, l.matter_id, l.linked_by, l.linked_at, l.changed_at, l.event_id,
       rt.amount, rt.reason, rt.returned_at, po.payout_id
  FROM r
  FULL JOIN p USING (firm_id, payment_id)
  FULL JOIN f USING (firm_id, payment_id)
  FULL JOIN u USING (firm_id, payment_id)
  FULL JOIN l USING (firm_id, payment_id)
  FULL JOIN rt USING (firm_id, payment_id)
  FULL JOIN po USING (firm_id, payment_id)
"""


# RefundRequested owns the request, RefundSucceeded / RefundFailed the outcome; amount and currency are the
# later of the request's and the success's (0 and '' while only a failure is known); the payment is the one
# the first event of the refund named (an upsert never changes it).
_REFUNDS = f"""
WITH rq AS ({
    _last(
        "raw_refund_requested",
        "firm_id, refund_id",
        "d->>'firm_id' firm_id, d->>'refund_id' refund_id, (d->>'amount')::bigint amount,"
        " d->>'currency' currency, d->>'reason' reason, d->>'requested_by' requested_by,"
        " (d->>'requested_at')::timestamptz requested_at",
    )
}),
rs AS ({
    _last(
        "raw_refund_succeeded",
        "firm_id, refund_id",
        "d->>'firm_id' firm_id, d->>'refund_id' refund_id, (d->>'amount')::bigint amount,"
        " d->>'currency' currency, (d->>'succeeded_at')::timestamptz succeeded_at",
    )
}),
rf AS ({
    _last(
        "raw_refund_failed",
        "firm_id, refund_id",
        "d->>'firm_id' firm_id, d->>'refund_id' refund_id, (d->>'failed_at')::timestamptz failed_at,"
        " d->>'reason' reason",
    )
}),
fst AS (
    SELECT DISTINCT ON (firm_id, refund_id) firm_id, refund_id, payment_id FROM (
        SELECT seq, d->>'firm_id' firm_id, d->>'refund_id' refund_id, d->>'payment_id' payment_id
          FROM raw_refund_requested
        UNION ALL
        SELECT seq, d->>'firm_id', d->>'refund_id', d->>'payment_id' FROM raw_refund_succeeded
        UNION ALL
        SELECT seq, d->>'firm_id', d->>'refund_id', d->>'payment_id' FROM raw_refund_failed
    ) x
    ORDER BY firm_id, refund_id, seq
)
INSERT INTO refunds (firm_id, refund_id, payment_id, amount, currency, reason, requested_by, requested_at,
                     succeeded_at, failed_at, failure_reason)
SELECT fst.firm_id, fst.refund_id, fst.payment_id,
       CASE WHEN rs.seq > coalesce(rq.seq, 0) THEN rs.amount ELSE coalesce(rq.amount, 0) END,
       CASE WHEN rs.seq > coalesce(rq.seq, 0) THEN rs.currency ELSE coalesce(rq.currency, '') END,
       rq.reason, rq.requested_by, rq.requested_at, rs.succeeded_at, rf.failed_at, rf.reason
  FROM fst
  LEFT JOIN rq USING (firm_id, refund_id)
  LEFT JOIN rs USING (firm_id, refund_id)
  LEFT JOIN rf USING (firm_id, refund_id)
"""

# PaymentDisputed owns the opening (and overwrites amount and currency); DisputeClosed owns the outcome and
# gives amount and currency only to a dispute it creates; the payment is the first event's.
_DISPUTES = f"""
WITH o AS ({
    _last(
        "raw_payment_disputed",
        "firm_id, dispute_id",
        "d->>'firm_id' firm_id, d->>'dispute_id' dispute_id, (d->>'amount')::bigint amount,"
        " d->>'currency' currency, d->>'reason' reason,"
        " (d->>'evidence_due_by')::timestamptz evidence_due_by, (d->>'disputed_at')::timestamptz disputed_at",
    )
}),
c AS ({
    _last(
        "raw_dispute_closed",
        "firm_id, dispute_id",
        "d->>'firm_id' firm_id, d->>'dispute_id' dispute_id, d->>'outcome' outcome,"
        " (d->>'closed_at')::timestamptz closed_at",
    )
}),
fst AS (
    SELECT DISTINCT ON (firm_id, dispute_id) firm_id, dispute_id, payment_id, amount, currency FROM (
        SELECT seq, d->>'firm_id' firm_id, d->>'dispute_id' dispute_id, d->>'payment_id' payment_id,
               (d->>'amount')::bigint amount, d->>'currency' currency
          FROM raw_payment_disputed
        UNION ALL
        SELECT seq, d->>'firm_id', d->>'dispute_id', d->>'payment_id', (d->>'amount')::bigint, d->>'currency'
          FROM raw_dispute_closed
    ) x
    ORDER BY firm_id, dispute_id, seq
)
INSERT INTO disputes (firm_id, dispute_id, payment_id, amount, currency, reason, evidence_due_by,
                      disputed_at, outcome, closed_at)
SELECT fst.firm_id, fst.dispute_id, fst.payment_id, coalesce(o.amount, fst.amount),
       coalesce(o.currency, fst.currency), o.reason, o.evidence_due_by, o.disputed_at, c.outcome,
       c.closed_at
  FROM fst
  LEFT JOIN o USING (firm_id, dispute_id)
  LEFT JOIN c USING (firm_id, dispute_id)
"""

_FEES = """
INSERT INTO fees (firm_id, fee_id, given_back, payment_id, kind, amount, currency, bank_account_id,
                  charged_at)
SELECT DISTINCT ON (firm_id, fee_id, given_back)
       firm_id, fee_id, given_back, payment_id, kind, amount, currency, bank_account_id, charged_at
  FROM (SELECT seq, d->>'firm_id' firm_id, d->>'fee_id' fee_id, (d->>'amount')::bigint < 0 given_back,
               d->>'payment_id' payment_id, d->>'kind' kind, (d->>'amount')::bigint amount,
               d->>'currency' currency, d->>'bank_account_id' bank_account_id,
               (d->>'charged_at')::timestamptz charged_at
          FROM raw_fee_charged) x
 ORDER BY firm_id, fee_id, given_back, seq
"""

_PAYOUTS = """
INSERT INTO payouts (firm_id, payout_id, bank_account_id, amount, currency, arrival_date, lines)
SELECT DISTINCT ON (d->>'firm_id', d->>'payout_id')
       d->>'firm_id', d->>'payout_id', d->>'bank_account_id', (d->>'amount')::bigint, d->>'currency',
       (d->>'arrival_date')::date, d->'lines'
  FROM raw_payout_paid
 ORDER BY d->>'firm_id', d->>'payout_id', seq
"""

# + processed, - returned, - refund succeeded, - dispute lost; the first of each movement id is kept.
_LEDGER_MOVEMENTS = """
INSERT INTO ledger_movements (firm_id, movement_id, payment_id, kind, amount, at)
SELECT DISTINCT ON (firm_id, movement_id) firm_id, movement_id, payment_id, kind, amount, at FROM (
    SELECT seq, d->>'firm_id' firm_id, 'payment:' || (d->>'payment_id') movement_id,
           d->>'payment_id' payment_id, 'payment' kind, (d->>'amount')::bigint amount,
           (d->>'processed_at')::timestamptz at
      FROM raw_payment_processed
    UNION ALL
    SELECT seq, d->>'firm_id', 'return:' || (d->>'payment_id'), d->>'payment_id', 'return',
           -(d->>'amount')::bigint, (d->>'returned_at')::timestamptz
      FROM raw_payment_returned
    UNION ALL
    SELECT seq, d->>'firm_id', 'refund:' || (d->>'refund_id'), d->>'payment_id', 'refund',
           -(d->>'amount')::bigint, (d->>'succeeded_at')::timestamptz
      FROM raw_refund_succeeded
    UNION ALL
    SELECT seq, d->>'firm_id', 'dispute_lost:' || (d->>'dispute_id'), d->>'payment_id', 'dispute_lost',
           -(d->>'amount')::bigint, (d->>'closed_at')::timestamptz
      FROM raw_dispute_closed WHERE d->>'outcome' = 'lost'
) x
ORDER BY firm_id, movement_id, seq
"""

# The history of the two busy types each in a step of its own (they make nearly all of it), the rest in one.
_BUSY = ("PaymentReceived", "PaymentProcessed")
_HISTORY_FILLS = (
    *(_HISTORY[name] for name in _BUSY),
    "; ".join(statement for name, statement in _HISTORY.items() if name not in _BUSY),
)

# Every read-model table and the statements that fill it, the largest first (steps are ready in this order).
BUILDS: dict[str, tuple[str, ...]] = {
    "payments": tuple(_payments(part) for part in range(PAYMENT_PARTS)),
    "payment_history": _HISTORY_FILLS,
    "ledger_movements": (_LEDGER_MOVEMENTS,),
    "refunds": (_REFUNDS,),
    "disputes": (_DISPUTES,),
    "fees": (_FEES,),
    "payouts": (_PAYOUTS,),
    "bank_accounts": (_BANK_ACCOUNTS,),
    "contacts": (_CONTACTS,),
    "matters": (_MATTERS,),
    "bills": (_BILLS,),
}
