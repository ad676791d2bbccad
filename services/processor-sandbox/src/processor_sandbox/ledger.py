"""Money settled into (+) or out of (-) a bank account, waiting for its payout (docs/processor-api.md signs).

Fees go to the charge's fee account (an operating account), never to the account the payment went into:
a trust account's payouts hold client money gross.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Line:
    firm_id: str
    bank_account_id: str
    currency: str
    type: str  # payment | refund | dispute | dispute_won | return | fee
    payment_id: str
    amount: int  # signed
    refund_id: str | None = None
    fee_id: str | None = None


async def add(conn: asyncpg.Connection, *lines: Line) -> None:
    await conn.executemany(
        "INSERT INTO ledger_lines (firm_id, bank_account_id, currency, type, payment_id, refund_id, fee_id,"
        " amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (x.firm_id, x.bank_account_id, x.currency, x.type, x.payment_id, x.refund_id, x.fee_id, x.amount)
            for x in lines
        ],
    )


def money_line(charge: asyncpg.Record, type_: str, amount: int, refund_id: str | None = None) -> Line:
    """A movement of the payment's own money: on the account it was paid into."""
    return Line(
        charge["firm_id"],
        charge["bank_account_id"],
        charge["currency"],
        type_,
        charge["payment_id"],
        amount,
        refund_id=refund_id,
    )


def fee_line(charge: asyncpg.Record, fee_id: str, amount: int) -> Line:
    """A fee taken (negative) or given back (positive): always on the charge's fee account."""
    return Line(
        charge["firm_id"],
        charge["fee_bank_account_id"],
        charge["currency"],
        "fee",
        charge["payment_id"],
        amount,
        fee_id=fee_id,
    )
