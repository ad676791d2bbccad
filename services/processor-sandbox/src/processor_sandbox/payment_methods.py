"""Tokens: what the browser's card or bank details became. Stored without number, CVC or account number."""

from __future__ import annotations

from typing import Any

import asyncpg

from .ids import new_id
from .instruments import PaymentMethodDraft


async def save(pool: asyncpg.Pool, draft: PaymentMethodDraft) -> dict[str, Any]:
    token = new_id("pm")
    await pool.execute(
        "INSERT INTO payment_methods (id, type, brand, last4, exp_month, exp_year, account_holder_name,"
        " scenario) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        token,
        draft.type,
        draft.brand,
        draft.last4,
        draft.exp_month,
        draft.exp_year,
        draft.account_holder_name,
        draft.scenario.value,
    )
    return view(token, draft)


def view(token: str, draft: PaymentMethodDraft) -> dict[str, Any]:
    if draft.type == "card":
        card = {
            "brand": draft.brand,
            "last4": draft.last4,
            "exp_month": draft.exp_month,
            "exp_year": draft.exp_year,
        }
        return {"id": token, "type": "card", "card": card}
    bank = {"last4": draft.last4, "account_holder_name": draft.account_holder_name}
    return {"id": token, "type": "us_bank_account", "us_bank_account": bank}
