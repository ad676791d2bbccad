"""The firms read model (FirmProfileUpdated): display name and fee account."""

from __future__ import annotations

import asyncpg


async def fee_account(conn: asyncpg.Connection, firm_id: str) -> str | None:
    """The operating account the processor takes this firm's fees from: the one its profile names, else its
    first operating account; None when it has none (a trust account never pays fees)."""
    account: str | None = await conn.fetchval(
        "SELECT coalesce("
        " (SELECT fee_bank_account_id FROM firms WHERE firm_id = $1),"
        " (SELECT bank_account_id FROM bank_accounts WHERE firm_id = $1 AND kind = 'operating'"
        "  ORDER BY registered_at, bank_account_id LIMIT 1))",
        firm_id,
    )
    return account


async def upsert(
    conn: asyncpg.Connection,
    firm_id: str,
    display_name: str,
    fee_bank_account_id: str | None,
    minimum_payment_amount: int | None,
) -> None:
    await conn.execute(
        "INSERT INTO firms (firm_id, display_name, fee_bank_account_id, minimum_payment_amount)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (firm_id) DO UPDATE"
        " SET display_name = $2, fee_bank_account_id = $3, minimum_payment_amount = $4",
        firm_id,
        display_name,
        fee_bank_account_id,
        minimum_payment_amount,
    )
