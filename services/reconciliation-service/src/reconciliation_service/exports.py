"""Deposits and payments as a bookkeeper imports them: JSON items, and CSV documents with a header row, one
row per payout line or per payment, RFC 4180 quoting (CRLF, quotes doubled), and amounts as decimals in the
currency's units. A text cell a spreadsheet would run as a formula (= + - @, tab, CR) gets a leading quote."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from paylinks_events.money import plain_amount

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")  # our own amounts ("-12.50") are numbers, not formulas


def safe_cell(value: object) -> str:
    """The cell as text; one that starts like a formula is prefixed with a quote so it stays text."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


def deposit_item(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "payout_id": row["payout_id"],
        "bank_account_id": row["bank_account_id"],
        "bank_account_name": row["bank_account_name"],
        "amount": row["amount"],
        "currency": row["currency"],
        "arrival_date": row["arrival_date"],
        "lines": json.loads(row["lines"]),
    }


DEPOSIT_COLUMNS = (
    "payout_id",
    "arrival_date",
    "bank_account_id",
    "bank_account_name",
    "currency",
    "payout_amount",
    "line_type",
    "payment_id",
    "refund_id",
    "fee_id",
    "amount",
)


def deposits_csv(rows: Iterable[asyncpg.Record]) -> str:
    """One row per payout line, each with its payout's date, account and total."""
    return csv_document(DEPOSIT_COLUMNS, (line for row in rows for line in _deposit_lines(row)))


def _deposit_lines(row: asyncpg.Record) -> list[list[object]]:
    currency = row["currency"]
    payout = [
        row["payout_id"],
        row["arrival_date"],
        row["bank_account_id"],
        row["bank_account_name"],
        currency,
        plain_amount(row["amount"], currency),
    ]
    return [
        [
            *payout,
            line["type"],
            line["payment_id"],
            line.get("refund_id"),
            line.get("fee_id"),
            plain_amount(line["amount"], currency),
        ]
        for line in json.loads(row["lines"])
    ]


PAYMENT_COLUMNS = (
    "payment_id",
    "status",
    "received_at",
    "processed_at",
    "bank_account_id",
    "bank_account_name",
    "bank_account_kind",
    "method",
    "card_brand",
    "last4",
    "payer_name",
    "payer_email",
    "reference",
    "bill_id",
    "currency",
    "amount",
    "fee",
    "refunded",
    "disputes_lost",
    "returned",
    "net",
    "dispute_status",
    "returned_reason",
    "matter_id",
    "matter_number",
    "matter_name",
    "contact_id",
    "contact_name",
    "payout_id",
)


def payment_net(row: asyncpg.Record) -> int:
    """What stays with the firm of a payment: processed, less refunds, disputes lost and returns. The fee is
    not in it: it is taken from the operating account, never from the payment."""
    processed = row["amount"] if row["processed_at"] is not None and row["amount"] is not None else 0
    return int(processed - row["refunded"] - row["disputes_lost"] - row["returned"])


def payments_csv(rows: Iterable[asyncpg.Record]) -> str:
    return csv_document(PAYMENT_COLUMNS, (_payment_line(row) for row in rows))


def _payment_line(row: asyncpg.Record) -> list[object]:
    currency = row["currency"] or "USD"

    def money(minor_units: int | None) -> str | None:
        return None if minor_units is None else plain_amount(minor_units, currency)

    values: dict[str, object] = {
        **{column: row[column] for column in PAYMENT_COLUMNS if column in row.keys()},  # noqa: SIM118
        "currency": currency,
        "amount": money(row["amount"]),
        "fee": money(row["fee"]),
        "refunded": money(row["refunded"]),
        "disputes_lost": money(row["disputes_lost"]),
        "returned": money(row["returned"]),
        "net": money(payment_net(row)),
    }
    return [values[column] for column in PAYMENT_COLUMNS]
