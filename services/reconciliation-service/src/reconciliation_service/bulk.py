"""The rebuild's bulk load: the read model built set-based from raw events instead of event by event.

1. While the topics are read, every decoded event of a type the projection uses is COPYed as it is (its
   pydantic-validated JSON, canonical: every field present, timestamps as pydantic writes them) into an
   unindexed, unlogged table of its type (`raw_<type>`), with its read order (`seq`) and whether its event
   id is seen for the first time (`first_seen`). No planner, no upsert per event.
2. Then each read-model table is built by ONE `INSERT ... SELECT` over those tables, with the same rules as
   the per-event projection (projection.py, projection_money.py, projection_store.py): a column owned by one
   event type takes that type's last event of the key (`DISTINCT ON ... ORDER BY seq DESC`), what an upsert
   only fills when missing (`COALESCE(payments.x, EXCLUDED.x)`) comes after the owner's value, the link
   change with the greatest (time, event id) wins, a payment paid out twice keeps the least payout id, and
   what the projection inserts `ON CONFLICT DO NOTHING` (history, fees, payouts, ledger movements) keeps the
   first. The primary keys and indexes are created afterwards, over the whole table (the keys also check
   that the build made one row per key).
3. What the bulk path does not take is applied after it by the per-event projection (the projection is
   order-free, so applying it later gives the same rows): an event type the projection uses but that has no
   set-based build here, and an event whose JSON Postgres would refuse or could not cast (a `\\u` escape such
   as NUL, an integer of 19 digits or more, a NUL in its id or source): there the per-event path's own
   handling applies (a batch that fails is applied event by event, an event that fails is skipped and logged).
"""

# Every statement here is made of this module's constant fragments (table and column names): no input.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence

import asyncpg
import structlog

from paylinks_events import Envelope

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
# The types that write a payment_history row (keyed by event id: the first delivery of an id writes it).
_IN_HISTORY: frozenset[str] = frozenset(RAW_TABLES) - {
    "BankAccountRegistered", "ContactCreated", "MatterOpened", "BillIssued", "FeeCharged", "PayoutPaid"
}  # fmt: skip

# Postgres refuses NUL in text and jsonb, a lone surrogate in jsonb, and a bigint past 19 digits: such an
# event goes the per-event way, whose failure handling then applies to it alone.
_ESCAPE = "\\u"
_LONG_NUMBER = re.compile(r"\d{19}")

Row = tuple[int, str, str, bool, str]


class BulkLoad:
    """The raw rows of the events read, a batch at a time, and the events left for the per-event path."""

    def __init__(self) -> None:
        self.per_event: list[Envelope] = []
        self.loaded = 0
        self._rows: dict[str, list[Row]] = {}
        self._seen: set[str] = set()
        self._seq = 0

    def add(self, envelope: Envelope) -> None:
        name = envelope.type
        table = RAW_TABLES.get(name)
        if table is None:
            if name in PROJECTED:
                self.per_event.append(envelope)
            return  # a type the projection ignores: so does the rebuild
        data = envelope.event.model_dump_json()
        if _ESCAPE in data or _LONG_NUMBER.search(data) or "\x00" in envelope.id + envelope.source:
            self.per_event.append(envelope)
            return
        first = True  # the first delivery of its event id, for the history (which keeps the first)
        if name in _IN_HISTORY:
            first = envelope.id not in self._seen
            self._seen.add(envelope.id)
        self._seq += 1
        self.loaded += 1
        self._rows.setdefault(table, []).append((self._seq, envelope.id, envelope.source, first, data))

    def take(self) -> dict[str, list[Row]]:
        """The rows added since the last call, by raw table."""
        rows, self._rows = self._rows, {}
        return rows


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def drop_keys_and_indexes(conn: asyncpg.Connection, schema: str) -> dict[str, list[str]]:
    """Drop the keys and indexes of the tables of `schema`; return the statements that make them again, by
    table, the keys first."""
    deferred: dict[str, list[str]] = {}
    keys = await conn.fetch(
        "SELECT t.relname AS table, c.conname, pg_get_constraintdef(c.oid) AS definition"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " WHERE c.connamespace = $1::regnamespace AND c.contype IN ('p', 'u') ORDER BY 1, 2",
        schema,
    )
    for key in keys:
        table = f"{_quote(schema)}.{_quote(key['table'])}"
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_quote(key['conname'])}")
        deferred.setdefault(key["table"], []).append(
            f"ALTER TABLE {table} ADD CONSTRAINT {_quote(key['conname'])} {key['definition']}"
        )
    indexes = await conn.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1, 2", schema
    )
    for index in indexes:
        await conn.execute(f"DROP INDEX {_quote(schema)}.{_quote(index['indexname'])}")
        deferred.setdefault(index["tablename"], []).append(index["indexdef"])
    return deferred


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


async def copy_rows(conn: asyncpg.Connection, rows: Mapping[str, list[Row]]) -> None:
    for table, records in rows.items():
        await conn.copy_records_to_table(table, records=records)


async def build(pool: asyncpg.Pool, deferred: Mapping[str, Sequence[str]], concurrency: int = 2) -> None:
    """Fill every read-model table from the raw tables, then give it its keys and indexes (`deferred`: the
    statements that create them, by table). Tables are built `concurrency` at a time, each in its own
    transaction, the largest first; any failure is raised."""
    gate = asyncio.Semaphore(concurrency)

    async def build_table(table: str, statement: str) -> None:
        async with gate, pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SET LOCAL synchronous_commit = off; SET LOCAL work_mem = '256MB';"
                " SET LOCAL maintenance_work_mem = '256MB'"
            )
            await conn.execute(statement)
            for ddl in deferred.get(table, ()):
                await conn.execute(ddl)

    missing = set(deferred) - set(BUILDS)
    if missing:
        raise RuntimeError(f"no set-based build for read-model table(s) {sorted(missing)}")
    tasks = [asyncio.create_task(build_table(table, sql)) for table, sql in BUILDS.items()]
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

# PaymentReceived owns the description (its bill only when it names one); PaymentProcessed and
# PaymentUnallocated fill what is still unknown; every other column group has one owner.
_PAYMENTS = f"""
WITH r AS ({
    _last(
        "raw_payment_received",
        "firm_id, payment_id",
        f"{_PAYMENT_KEY}, d->>'bank_account_id' bank_account_id, d->>'bill_id' bill_id,"
        " d->>'link_id' link_id, d->>'source' source, (d->>'amount')::bigint amount, d->>'currency' currency,"
        " d->>'method' method, d->'payer'->>'name' payer_name, d->'payer'->>'email' payer_email,"
        " d->>'reference' reference, d->>'card_brand' card_brand, d->>'last4' last4,"
        " (d->>'received_at')::timestamptz received_at",
    )
}),
p AS ({
    _last(
        "raw_payment_processed",
        "firm_id, payment_id",
        f"{_PAYMENT_KEY}, d->>'bank_account_id' bank_account_id, d->>'bill_id' bill_id,"
        " (d->>'amount')::bigint amount, d->>'currency' currency, d->>'method' method,"
        " (d->>'processed_at')::timestamptz processed_at, (d->>'fee')::bigint fee",
    )
}),
f AS ({
    _last(
        "raw_payment_failed",
        "firm_id, payment_id",
        f"{_PAYMENT_KEY}, (d->>'failed_at')::timestamptz failed_at, d->>'reason' reason",
    )
}),
u AS ({
    _last(
        "raw_payment_unallocated",
        "firm_id, payment_id",
        f"{_PAYMENT_KEY}, d->>'bill_id' bill_id, d->>'currency' currency, (d->>'amount')::bigint amount,"
        " (d->>'unallocated_at')::timestamptz unallocated_at",
    )
}),
l AS (
    SELECT DISTINCT ON (firm_id, payment_id) * FROM (
        SELECT {_PAYMENT_KEY}, 'linked' link_state, d->>'contact_id' contact_id, d->>'matter_id' matter_id,
               d->>'linked_by' linked_by, (d->>'linked_at')::timestamptz linked_at,
               (d->>'linked_at')::timestamptz changed_at, id event_id
          FROM raw_payment_linked
        UNION ALL
        SELECT {_PAYMENT_KEY}, 'unlinked', NULL, NULL, NULL, NULL, (d->>'unlinked_at')::timestamptz, id
          FROM raw_payment_unlinked
    ) x
    ORDER BY firm_id, payment_id, changed_at DESC, event_id DESC
),
rt AS ({
    _last(
        "raw_payment_returned",
        "firm_id, payment_id",
        f"{_PAYMENT_KEY}, (d->>'amount')::bigint amount, d->>'reason' reason,"
        " (d->>'returned_at')::timestamptz returned_at",
    )
}),
po AS (
    SELECT d->>'firm_id' firm_id, line->>'payment_id' payment_id, min(d->>'payout_id') payout_id
      FROM raw_payout_paid, jsonb_array_elements(d->'lines') line
     WHERE line->>'type' = 'payment'
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


def _history(table: str, type_name: str, at: str, actor: str, *details: str) -> str:
    """A history row per event id (its first delivery), as projection.py's `add_history` writes it."""
    pairs = ", ".join(f"'{name}', d->'{name}'" for name in details)
    return (
        f"SELECT id, d->>'firm_id', d->>'payment_id', '{type_name}', (d->>'{at}')::timestamptz, {actor},"
        f" jsonb_build_object({pairs}) FROM {table} WHERE first_seen"
    )


_HISTORY_PARTS = (
    _history(
        "raw_payment_received", "PaymentReceived", "received_at", "source",
        "amount", "currency", "source", "bill_id",
    ),
    _history("raw_payment_processed", "PaymentProcessed", "processed_at", "source", "fee"),
    _history("raw_payment_failed", "PaymentFailed", "failed_at", "source", "reason"),
    _history(
        "raw_payment_unallocated", "PaymentUnallocated", "unallocated_at", "source",
        "amount", "bill_id", "reason",
    ),
    _history(
        "raw_payment_linked", "PaymentLinked", "linked_at", "d->>'linked_by'", "contact_id", "matter_id"
    ),
    _history("raw_payment_unlinked", "PaymentUnlinked", "unlinked_at", "d->>'unlinked_by'", "reason"),
    _history("raw_payment_returned", "PaymentReturned", "returned_at", "source", "amount", "reason"),
    _history(
        "raw_refund_requested", "RefundRequested", "requested_at", "d->>'requested_by'",
        "refund_id", "amount", "reason",
    ),
    _history("raw_refund_succeeded", "RefundSucceeded", "succeeded_at", "source", "refund_id", "amount"),
    _history("raw_refund_failed", "RefundFailed", "failed_at", "source", "refund_id", "reason"),
    _history(
        "raw_payment_disputed", "PaymentDisputed", "disputed_at", "source",
        "dispute_id", "amount", "reason", "evidence_due_by",
    ),
    _history(
        "raw_dispute_closed", "DisputeClosed", "closed_at", "source", "dispute_id", "outcome", "amount"
    ),
)  # fmt: skip

_PAYMENT_HISTORY = (
    "INSERT INTO payment_history (event_id, firm_id, payment_id, type, at, actor, details)\n"
    + "\nUNION ALL\n".join(_HISTORY_PARTS)
)

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

# Every read-model table and its statement, the largest first (they are built two at a time).
BUILDS: dict[str, str] = {
    "payment_history": _PAYMENT_HISTORY,
    "payments": _PAYMENTS,
    "ledger_movements": _LEDGER_MOVEMENTS,
    "refunds": _REFUNDS,
    "disputes": _DISPUTES,
    "fees": _FEES,
    "payouts": _PAYOUTS,
    "bank_accounts": _BANK_ACCOUNTS,
    "contacts": _CONTACTS,
    "matters": _MATTERS,
    "bills": _BILLS,
}
