"""Payment attempts (see migrations/0003): recorded before the processor is called, finished after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from paylinks_events import DebitAuthorization, Event, Payer
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.event_store import GUARD_FIRST_PARAMETER, stored_event

from ..domain.payment import Destination, Receipt
from ..processor import ChargeRequest
from .idempotency import KEPT_HOURS

AttemptState = Literal["charging", "received", "settled", "refused"]


@dataclass(frozen=True)
class Attempt:
    payment_id: str
    state: AttemptState
    refusal: DomainError | None
    charge: ChargeRequest | None
    receipt: Receipt | None


StartResult = Literal["started", "key_used", "changed"]


@dataclass(frozen=True)
class KeyClaim:
    """An Idempotency-Key to bind to the attempt, and what makes a retry "the same request"."""

    link_id: str
    key: str
    fingerprint: str


# One statement, so one atomic transaction in a single round trip: claim the Idempotency-Key (a key older
# than KEPT_HOURS is taken over), reserve the amount on the bill's row, record the attempt. The UPDATE of the
# bill waits on its row lock and decides on the newest balance and pending (what a payer checked before may
# have moved); a link revoked since is not started either. When the key was claimed but the attempt not
# recorded, the key's deferred foreign key fails the commit, and nothing of the statement is kept.
_START = """
WITH claim AS (
    INSERT INTO idempotency_keys (link_id, key, fingerprint, payment_id)
    SELECT $2, $7, $8, $1 WHERE $7::text IS NOT NULL
    ON CONFLICT (link_id, key) DO UPDATE
        SET fingerprint = excluded.fingerprint, payment_id = excluded.payment_id, created_at = now()
        WHERE idempotency_keys.created_at < now() - make_interval(hours => $9)
    RETURNING true
), reserve AS (
    UPDATE bills SET pending = pending + $4
    WHERE bill_id = $3 AND state = 'open' AND balance - pending >= $4
      AND ($7::text IS NULL OR EXISTS (SELECT FROM claim))
    RETURNING true
), started AS (
    INSERT INTO payment_attempts (payment_id, link_id, bill_id, amount, state, charge, receipt)
    SELECT $1, $2, $3, $4, 'charging', $5::jsonb, $6::jsonb
    WHERE ($7::text IS NULL OR EXISTS (SELECT FROM claim))
      AND ($3::text IS NULL OR EXISTS (SELECT FROM reserve))
      AND EXISTS (SELECT FROM links WHERE link_id = $2 AND revoked_reason IS NULL)
    RETURNING true
)
SELECT EXISTS (SELECT FROM started) AS started, EXISTS (SELECT FROM claim) AS claimed
"""


async def start(
    conn: asyncpg.Connection, charge: ChargeRequest, receipt: Receipt, claim: KeyClaim | None = None
) -> StartResult:
    """Record the attempt, reserving its amount on its bill: "started"; else nothing is kept, and it is
    "key_used" (the key names an earlier request) or "changed" (the bill or link no longer allow it)."""
    try:
        row = await conn.fetchrow(
            _START,
            charge.payment_id,
            receipt.to.link_id,
            receipt.to.bill_id,
            receipt.amount,
            _dumps(charge.as_json()),
            _dumps(_receipt_json(receipt)),
            claim.key if claim else None,
            claim.fingerprint if claim else None,
            KEPT_HOURS,
        )
    except asyncpg.ForeignKeyViolationError:
        return "changed"  # the key was claimed for an attempt the bill or link refused
    assert row is not None
    if row["started"]:
        return "started"
    return "key_used" if claim is not None and not row["claimed"] else "changed"


async def refuse_before_charge(
    conn: asyncpg.Connection, payment_id: str, link_id: str, refusal: DomainError
) -> None:
    """A refusal is kept too: its Idempotency-Key replays it, and refused attempts leave a trace."""
    await conn.execute(
        "INSERT INTO payment_attempts (payment_id, link_id, state, refusal_code, refusal_message)"
        " VALUES ($1, $2, 'refused', $3, $4)",
        payment_id,
        link_id,
        refusal.code,
        refusal.message,
    )


async def find(conn: asyncpg.Connection, payment_id: str) -> Attempt | None:
    row = await conn.fetchrow("SELECT * FROM payment_attempts WHERE payment_id = $1", payment_id)
    return _attempt(row) if row else None


@dataclass(frozen=True)
class PaymentRead:
    """A payment as a processor's report needs it, read in one statement (one snapshot): intake records the
    payment's stream and the attempt's end in one transaction, seen here whole or not at all."""

    attempt: Attempt | None  # None for a payment intake did not take
    stream_type: str | None  # None when no stream has this id
    events: list[Event]


async def find_with_stream(conn: asyncpg.Connection, payment_id: str) -> PaymentRead:
    rows = await conn.fetch(
        "SELECT a.*, e.stream_type, e.version, e.event_id, e.event_type, e.schema_version, e.data"
        " FROM (SELECT) AS one LEFT JOIN payment_attempts a ON a.payment_id = $1"
        " LEFT JOIN events e ON e.stream_id = $1 ORDER BY e.version",
        payment_id,
    )
    first = rows[0]  # the attempt's columns on every row, the stream's on none when it has no events
    attempt = _attempt(first) if first["payment_id"] is not None else None
    if first["stream_type"] is None:
        return PaymentRead(attempt, None, [])
    return PaymentRead(attempt, first["stream_type"], [stored_event(payment_id, r).event for r in rows])


async def finish_received(conn: asyncpg.Connection, payment_id: str) -> Attempt | None:
    """The attempt, now received; None when it was no longer charging (the request and the recovery both
    sent it: the first to record the answer wins). Its row stays locked until the transaction ends."""
    row = await conn.fetchrow(
        "UPDATE payment_attempts SET state = 'received', updated_at = now()"
        " WHERE payment_id = $1 AND state = 'charging' RETURNING *",
        payment_id,
    )
    return _attempt(row) if row else None


# The guard of the payment's first events (Writer.save_when): the attempt moves from charging to received,
# or, already answered (the request and the recovery both sent it), nothing is written.
RECEIVED = (
    "UPDATE payment_attempts SET state = 'received', updated_at = now()"  # noqa: S608 (a number, no input)
    f" WHERE payment_id = ${GUARD_FIRST_PARAMETER} AND state = 'charging' RETURNING true"
)


# Moving an attempt out of charging or received gives its amount back to its bill's pending sum.
_RELEASE = """
WITH moved AS (
    UPDATE payment_attempts SET state = $2, refusal_code = coalesce($3, refusal_code),
        refusal_message = coalesce($4, refusal_message), updated_at = now()
    WHERE payment_id = $1 AND state = ANY($5::text[])
    RETURNING *
), released AS (
    UPDATE bills SET pending = pending - moved.amount FROM moved WHERE bills.bill_id = moved.bill_id
)
SELECT * FROM moved
"""


async def finish_refused(conn: asyncpg.Connection, payment_id: str, refusal: DomainError) -> Attempt | None:
    """The attempt, now refused (its amount no longer held on its bill); None when it no longer was
    charging."""
    row = await conn.fetchrow(_RELEASE, payment_id, "refused", refusal.code, refusal.message, ["charging"])
    return _attempt(row) if row else None


async def mark_settled(conn: asyncpg.Connection, payment_id: str) -> None:
    """Billing applied it to the bill's balance, or it failed: it no longer counts as pending."""
    await conn.execute(_RELEASE, payment_id, "settled", None, None, ["charging", "received"])


async def stranded(conn: asyncpg.Connection, older_than_seconds: float, limit: int = 50) -> list[str]:
    """Attempts left between the charge and its record (a crash, the processor unreachable)."""
    rows = await conn.fetch(
        "SELECT payment_id FROM payment_attempts WHERE state = 'charging'"
        " AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
        older_than_seconds,
        limit,
    )
    return [r["payment_id"] for r in rows]


def _attempt(row: asyncpg.Record) -> Attempt:
    refusal = DomainError(row["refusal_code"], row["refusal_message"]) if row["refusal_code"] else None
    charge = ChargeRequest.from_json(_loads(row["charge"])) if row["charge"] else None
    receipt = _receipt(_loads(row["receipt"])) if row["receipt"] else None
    return Attempt(row["payment_id"], row["state"], refusal, charge, receipt)


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    to, authorization = receipt.to, receipt.authorization
    return {
        "to": {
            "firm_id": to.firm_id,
            "link_id": to.link_id,
            "bank_account_id": to.bank_account_id,
            "bill_id": to.bill_id,
            "currency": to.currency,
            "source": to.source,
        },
        "amount": receipt.amount,
        "method": receipt.method,
        "payer": receipt.payer.model_dump(),
        "reference": receipt.reference,
        "authorization": authorization.model_dump(mode="json") if authorization else None,
    }


def _receipt(data: dict[str, Any]) -> Receipt:
    authorization = data["authorization"]
    return Receipt(
        to=Destination(**data["to"]),
        amount=data["amount"],
        method=data["method"],
        payer=Payer(**data["payer"]),
        reference=data["reference"],
        authorization=DebitAuthorization.model_validate(authorization) if authorization else None,
    )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data)


def _loads(value: str | dict[str, Any]) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))


async def fee_account(conn: asyncpg.Connection, payment_id: str) -> str | None:
    """The operating account the payment's charge named for its fees."""
    account: str | None = await conn.fetchval(
        "SELECT charge ->> 'fee_bank_account_id' FROM payment_attempts WHERE payment_id = $1", payment_id
    )
    return account
