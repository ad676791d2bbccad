"""The notifier's lookups (names learnt from events) and the firms' recipient lists, in its own schema."""

from __future__ import annotations

import asyncpg

from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    BillPaymentApplied,
    Event,
    PaymentReceived,
    PaymentUnallocated,
)

from .notices import BillOutcome, Context, PaymentFacts, referenced_ids
from .routing import group_key


async def save_bank_account(conn: asyncpg.Connection, e: BankAccountRegistered) -> None:
    await conn.execute(
        "INSERT INTO bank_accounts (firm_id, bank_account_id, name, kind, currency)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (firm_id, bank_account_id) DO UPDATE SET name = $3, kind = $4, currency = $5",
        e.firm_id,
        e.bank_account_id,
        e.name,
        e.kind,
        e.currency,
    )


async def save_bill(conn: asyncpg.Connection, e: BillIssued) -> None:
    await conn.execute(
        "INSERT INTO bills (firm_id, bill_id, bill_number, amount, currency) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (firm_id, bill_id) DO UPDATE SET bill_number = $3, amount = $4, currency = $5",
        e.firm_id,
        e.bill_id,
        e.bill_number,
        e.amount,
        e.currency,
    )


async def save_payment(conn: asyncpg.Connection, e: PaymentReceived) -> None:
    await conn.execute(
        "INSERT INTO payments (firm_id, payment_id, bank_account_id, bill_id, payer_name, method, amount,"
        " currency, source, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (firm_id, payment_id) DO NOTHING",
        e.firm_id,
        e.payment_id,
        e.bank_account_id,
        e.bill_id,
        e.payer.name,
        e.method,
        e.amount,
        e.currency,
        e.source,
        e.received_at,
    )


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
        "SELECT payer_name, method, amount, currency, bank_account_id, bill_id FROM payments"
        " WHERE firm_id = $1 AND payment_id = $2",
        firm_id,
        payment_id,
    )
    return PaymentFacts(**dict(row)) if row else None


async def load_context(conn: asyncpg.Connection, event: Event, payment_id: str) -> Context:
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
    return Context(
        payment=payment,
        bank_account_name=account,
        bill_known=bill is not None,
        bill_number=bill["bill_number"] if bill else None,
        outcome=BillOutcome(**dict(outcome)) if outcome else None,
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
