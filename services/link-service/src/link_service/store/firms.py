"""The firms read model (FirmProfileUpdated): display name, fee account and minimum payment (the fee
account a payment names is read with its link: store/links.py)."""

from __future__ import annotations

import asyncpg


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
