"""The notifier's lookups (names learnt from events) and the firms' recipient lists, in its own schema."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    BillPaymentApplied,
    Event,
    FirmProfileUpdated,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PaymentUnallocated,
    PaymentUnlinked,
    RefundRequested,
)

from .notices import BillOutcome, Context, PaymentFacts, RefundFacts, referenced_ids
from .routing import group_key
from .unidentified_trust import UnidentifiedTrustPayment


async def _upsert(
    conn: asyncpg.Connection,
    table: str,
    key: tuple[str, ...],
    row: Mapping[str, object],
    *,
    overwrite: bool = True,
) -> None:
    """Insert the row; when its key is there already, overwrite the other columns with the row's (a later
    event of the same thing wins), or with `overwrite=False` keep what is there (the first one wins).
    Table and column names are this module's own constants, never input."""
    columns = list(row)
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    on_conflict = f"DO UPDATE SET {updates}" if overwrite and updates else "DO NOTHING"
    await conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        f" ON CONFLICT ({', '.join(key)}) {on_conflict}",
        *row.values(),
    )


def _fields(event: Event, *names: str) -> dict[str, object]:
    return event.model_dump(include=set(names))


async def save_bank_account(conn: asyncpg.Connection, e: BankAccountRegistered) -> None:
    row = _fields(e, "firm_id", "bank_account_id", "name", "kind", "currency")
    await _upsert(conn, "bank_accounts", ("firm_id", "bank_account_id"), row)


async def save_bill(conn: asyncpg.Connection, e: BillIssued) -> None:
    row = _fields(e, "firm_id", "bill_id", "bill_number", "amount", "currency")
    await _upsert(conn, "bills", ("firm_id", "bill_id"), row)


async def save_firm(conn: asyncpg.Connection, e: FirmProfileUpdated) -> None:
    await _upsert(conn, "firms", ("firm_id",), _fields(e, "firm_id", "display_name"))


async def save_refund(conn: asyncpg.Connection, e: RefundRequested) -> None:
    row = _fields(e, "firm_id", "refund_id", "payment_id", "amount", "currency", "reason")
    await _upsert(conn, "refunds", ("firm_id", "refund_id"), row, overwrite=False)


async def mark_processed(conn: asyncpg.Connection, e: PaymentProcessed) -> None:
    await conn.execute(
        "UPDATE payments SET processed_at = $3 WHERE firm_id = $1 AND payment_id = $2",
        e.firm_id,
        e.payment_id,
        e.processed_at,
    )


async def mark_returned(conn: asyncpg.Connection, e: PaymentReturned) -> None:
    await conn.execute(
        "UPDATE payments SET returned = true WHERE firm_id = $1 AND payment_id = $2", e.firm_id, e.payment_id
    )


async def set_linked(conn: asyncpg.Connection, e: PaymentLinked | PaymentUnlinked) -> None:
    """reconciliation.events are keyed by payment: the last one of a payment says whether it is linked."""
    linked = {"firm_id": e.firm_id, "payment_id": e.payment_id, "linked": isinstance(e, PaymentLinked)}
    await _upsert(conn, "payment_links", ("firm_id", "payment_id"), linked)


async def save_payment(conn: asyncpg.Connection, e: PaymentReceived) -> None:
    row = _fields(e, "firm_id", "payment_id", "bank_account_id", "bill_id", "method", "amount", "currency")
    row |= _fields(e, "source", "received_at", "card_brand", "last4", "reference")
    row |= {"payer_name": e.payer.name, "payer_email": e.payer.email}
    await _upsert(conn, "payments", ("firm_id", "payment_id"), row, overwrite=False)


async def add_bill_payment(conn: asyncpg.Connection, e: BillPaymentApplied) -> None:
    """Inbox-deduplicated, so adding is safe: each application counts once."""
    await conn.execute(
        "INSERT INTO bill_outcomes (firm_id, payment_id, bill_id, applied_amount, balance_after)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (firm_id, payment_id) DO UPDATE"
        " SET applied_amount = bill_outcomes.applied_amount + $4, balance_after = $5",
        e.firm_id,
        e.payment_id,
        e.bill_id,
        e.amount,
        e.balance,
    )


async def add_unallocated(conn: asyncpg.Connection, e: PaymentUnallocated) -> None:
    await conn.execute(
        "INSERT INTO bill_outcomes (firm_id, payment_id, bill_id, unallocated_amount, unallocated_reason)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (firm_id, payment_id) DO UPDATE"
        " SET unallocated_amount = bill_outcomes.unallocated_amount + $4, unallocated_reason = $5",
        e.firm_id,
        e.payment_id,
        e.bill_id,
        e.amount,
        e.reason,
    )


async def payment_facts(conn: asyncpg.Connection, firm_id: str, payment_id: str) -> PaymentFacts | None:
    row = await conn.fetchrow(
        "SELECT payer_name, method, amount, currency, bank_account_id, bill_id, payer_email, card_brand,"
        " last4, reference FROM payments"
        " WHERE firm_id = $1 AND payment_id = $2",
        firm_id,
        payment_id,
    )
    return PaymentFacts(**dict(row)) if row else None


async def load_context(
    conn: asyncpg.Connection, event: Event | UnidentifiedTrustPayment, payment_id: str
) -> Context:
    """What the email of `event` may show beside the event itself (names, billing's outcome, the refund)."""
    firm_id = event.firm_id
    payment = await payment_facts(conn, firm_id, payment_id)
    bank_account_id, bill_id = referenced_ids(event, payment)
    account = await conn.fetchval(
        "SELECT name FROM bank_accounts WHERE firm_id = $1 AND bank_account_id = $2", firm_id, bank_account_id
    )
    bill = await conn.fetchrow(
        "SELECT bill_number FROM bills WHERE firm_id = $1 AND bill_id = $2", firm_id, bill_id
    )
    outcome = await conn.fetchrow(
        "SELECT applied_amount, balance_after, unallocated_amount, unallocated_reason FROM bill_outcomes"
        " WHERE firm_id = $1 AND payment_id = $2",
        firm_id,
        payment_id,
    )
    firm_name = await conn.fetchval("SELECT display_name FROM firms WHERE firm_id = $1", firm_id)
    refund_id = getattr(event, "refund_id", None)
    refund = refund_id and await conn.fetchrow(
        "SELECT amount, currency, reason FROM refunds WHERE firm_id = $1 AND refund_id = $2",
        firm_id,
        refund_id,
    )
    return Context(
        payment=payment,
        bank_account_name=account,
        bill_known=bill is not None,
        bill_number=bill["bill_number"] if bill else None,
        outcome=BillOutcome(**dict(outcome)) if outcome else None,
        firm_name=firm_name,
        refund=RefundFacts(**dict(refund)) if refund else None,
    )


async def recipient_groups(conn: asyncpg.Connection, firm_id: str) -> dict[str, list[str]]:
    rows = await conn.fetch(
        "SELECT group_key, emails FROM notification_recipients WHERE firm_id = $1", firm_id
    )
    return {r["group_key"]: list(r["emails"]) for r in rows}


async def set_recipients(
    conn: asyncpg.Connection, firm_id: str, bank_account_id: str | None, emails: list[str]
) -> None:
    """Replace a group's list; an empty list removes the group (the firm's group then applies)."""
    key = group_key(bank_account_id)
    if not emails:
        await conn.execute(
            "DELETE FROM notification_recipients WHERE firm_id = $1 AND group_key = $2", firm_id, key
        )
        return
    await conn.execute(
        "INSERT INTO notification_recipients (firm_id, group_key, bank_account_id, emails)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (firm_id, group_key) DO UPDATE SET emails = $4, updated_at = now()",
        firm_id,
        key,
        bank_account_id,
        emails,
    )


async def list_recipients(conn: asyncpg.Connection, firm_id: str) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT bank_account_id, emails FROM notification_recipients WHERE firm_id = $1"
        " ORDER BY bank_account_id NULLS FIRST",
        firm_id,
    )
    return [{"bank_account_id": r["bank_account_id"], "emails": list(r["emails"])} for r in rows]


async def bank_account_known(conn: asyncpg.Connection, firm_id: str, bank_account_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM bank_accounts WHERE firm_id = $1 AND bank_account_id = $2",
            firm_id,
            bank_account_id,
        )
    )


# --- unidentified trust money (issue 17) --------------------------------------------------------------------


async def reminder_business_days(conn: asyncpg.Connection, firm_id: str) -> int | None:
    """The firm's setting; None: the default applies."""
    days = await conn.fetchval(
        "SELECT unidentified_trust_reminder_business_days FROM notification_settings WHERE firm_id = $1",
        firm_id,
    )
    return int(days) if days is not None else None


async def set_reminder_business_days(conn: asyncpg.Connection, firm_id: str, days: int) -> None:
    await conn.execute(
        "INSERT INTO notification_settings (firm_id, unidentified_trust_reminder_business_days)"
        " VALUES ($1, $2) ON CONFLICT (firm_id)"
        " DO UPDATE SET unidentified_trust_reminder_business_days = $2, updated_at = now()",
        firm_id,
        days,
    )


async def unidentified_trust_payments(
    conn: asyncpg.Connection, default_days: int, limit: int
) -> list[UnidentifiedTrustPayment]:
    """Processed trust payments, unlinked, not returned and not applied whole to a bill (the bill names the
    client), without a reminder, older than their firm's
    number of business days in *calendar* days (a superset: the caller counts the business days).
    Locked until the caller's transaction ends; another replica skips them."""
    rows = await conn.fetch(
        "SELECT p.firm_id, p.payment_id, p.bank_account_id, p.amount, p.currency, p.processed_at,"
        " coalesce(s.unidentified_trust_reminder_business_days, $1) AS business_days"
        " FROM payments p"
        " JOIN bank_accounts b ON b.firm_id = p.firm_id AND b.bank_account_id = p.bank_account_id"
        " LEFT JOIN notification_settings s ON s.firm_id = p.firm_id"
        " WHERE b.kind = 'trust' AND p.processed_at IS NOT NULL AND NOT p.returned"
        " AND NOT EXISTS (SELECT 1 FROM payment_links l"
        "   WHERE l.firm_id = p.firm_id AND l.payment_id = p.payment_id AND l.linked)"
        " AND p.processed_at <= now()"
        "   - make_interval(days => coalesce(s.unidentified_trust_reminder_business_days, $1))"
        " AND NOT EXISTS (SELECT 1 FROM bill_outcomes o WHERE o.firm_id = p.firm_id"
        "   AND o.payment_id = p.payment_id AND o.applied_amount >= p.amount)"
        " AND NOT EXISTS (SELECT 1 FROM unidentified_trust_reminders r"
        "   WHERE r.firm_id = p.firm_id AND r.payment_id = p.payment_id)"
        " ORDER BY p.processed_at LIMIT $2 FOR UPDATE OF p SKIP LOCKED",
        default_days,
        limit,
    )
    return [UnidentifiedTrustPayment(**dict(r)) for r in rows]


async def record_reminder(
    conn: asyncpg.Connection, payment: UnidentifiedTrustPayment, email_event_id: str
) -> bool:
    """True if this is the payment's first reminder (the only one that may be sent)."""
    inserted = await conn.fetchval(
        "INSERT INTO unidentified_trust_reminders (firm_id, payment_id, bank_account_id, amount, currency,"
        " processed_at, business_days, email_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (firm_id, payment_id) DO NOTHING RETURNING 1",
        payment.firm_id,
        payment.payment_id,
        payment.bank_account_id,
        payment.amount,
        payment.currency,
        payment.processed_at,
        payment.business_days,
        email_event_id,
    )
    return inserted is not None


async def reminders_in_month(
    conn: asyncpg.Connection, firm_id: str, year: int, month: int
) -> list[dict[str, object]]:
    """The month-end report: each reminder sent that month, its email's fate, and whether it is linked now."""
    rows = await conn.fetch(
        "SELECT r.payment_id, r.bank_account_id, b.name AS bank_account_name, p.payer_name, r.amount,"
        " r.currency, r.processed_at, r.business_days, r.reminded_at, coalesce(l.linked, false) AS linked,"
        " (SELECT e.status FROM outgoing_emails e WHERE e.event_id = r.email_event_id ORDER BY e.id LIMIT 1)"
        "   AS email_status"
        " FROM unidentified_trust_reminders r"
        " LEFT JOIN bank_accounts b ON b.firm_id = r.firm_id AND b.bank_account_id = r.bank_account_id"
        " LEFT JOIN payments p ON p.firm_id = r.firm_id AND p.payment_id = r.payment_id"
        " LEFT JOIN payment_links l ON l.firm_id = r.firm_id AND l.payment_id = r.payment_id"
        " WHERE r.firm_id = $1 AND r.reminded_at >= make_timestamptz($2, $3, 1, 0, 0, 0, 'UTC')"
        " AND r.reminded_at < make_timestamptz($2, $3, 1, 0, 0, 0, 'UTC') + interval '1 month'"
        " ORDER BY r.reminded_at, r.payment_id",
        firm_id,
        year,
        month,
    )
    return [dict(r) for r in rows]
