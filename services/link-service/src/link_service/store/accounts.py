"""The bank_accounts read model."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..domain.bank_account import BankAccount


async def insert(conn: asyncpg.Connection, account: BankAccount) -> None:
    await conn.execute(
        "INSERT INTO bank_accounts (bank_account_id, firm_id, name, kind, currency)"
        " VALUES ($1, $2, $3, $4, $5)",
        account.id,
        account.firm_id,
        account.name,
        account.kind,
        account.currency,
    )


async def list_for_firm(conn: asyncpg.Connection, firm_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT bank_account_id, name, kind, currency FROM bank_accounts WHERE firm_id = $1"
        " ORDER BY registered_at, bank_account_id",
        firm_id,
    )
    return [dict(r) for r in rows]


async def firm_of(conn: asyncpg.Connection, bank_account_id: str) -> str | None:
    firm_id: str | None = await conn.fetchval(
        "SELECT firm_id FROM bank_accounts WHERE bank_account_id = $1", bank_account_id
    )
    return firm_id


async def kind_for_firm(conn: asyncpg.Connection, bank_account_id: str, firm_id: str) -> str | None:
    """'trust' or 'operating', or None when the firm has no such account."""
    kind: str | None = await conn.fetchval(
        "SELECT kind FROM bank_accounts WHERE bank_account_id = $1 AND firm_id = $2", bank_account_id, firm_id
    )
    return kind
