"""Money taken back after a payment was processed: refunds, disputes (and their close), eCheck returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from paylinks_runtime.errors import ApiError, not_found

from . import charges, ledger, timers, webhook_outbox
from .config import Settings
from .fees import DISPUTE_FEE
from .ids import new_id

DEFAULT_DISPUTE_REASON = "fraudulent"


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str
    payment_id: str
    amount: int


async def refundable(conn: asyncpg.Connection, charge: asyncpg.Record) -> int:
    """The charge's amount minus refunds (pending ones count), open or lost disputes, and a return."""
    if charge["status"] == "returned":
        return 0
    taken = await conn.fetchval(
        "SELECT coalesce((SELECT sum(amount) FROM refunds WHERE charge_id = $1 AND status <> 'failed'), 0)"
        " + coalesce((SELECT sum(amount) FROM disputes WHERE charge_id = $1 AND status <> 'won'), 0)",
        charge["id"],
    )
    return int(charge["amount"] - taken)


# --- refunds -----------------------------------------------------------------------------------------------


async def create_refund(
    conn: asyncpg.Connection, request: RefundRequest, settings: Settings
) -> dict[str, Any]:
    charge = await charges.latest(conn, request.payment_id, lock=True)
    if charge is None:
        raise not_found("payment")
    if charge["status"] not in ("succeeded", "disputed"):
        raise ApiError(422, "payment_not_refundable", f"a {charge['status']} payment cannot be refunded")
    if request.amount > await refundable(conn, charge):
        raise ApiError(422, "amount_exceeds_refundable", "the amount is more than what can be refunded")
    row = await conn.fetchrow(
        "INSERT INTO refunds (id, refund_id, charge_id, amount, status) VALUES ($1, $2, $3, $4, 'pending')"
        " ON CONFLICT (refund_id) DO NOTHING RETURNING *",
        new_id("re"),
        request.refund_id,
        charge["id"],
        request.amount,
    )
    if row is None:
        raise ApiError(422, "refund_id_used", "a refund with this refund_id already exists")
    await timers.schedule(conn, timers.SETTLE_REFUND, row["id"], settings.sandbox_card_settle_seconds)
    return refund_view(row, charge)


async def settle_refund(conn: asyncpg.Connection, refund_key: str) -> None:
    refund = await conn.fetchrow("SELECT * FROM refunds WHERE id = $1 FOR UPDATE", refund_key)
    if refund is None or refund["status"] != "pending":
        return
    charge = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", refund["charge_id"])
    assert charge is not None
    data = {
        "firm_id": charge["firm_id"],
        "payment_id": charge["payment_id"],
        "refund_id": refund["refund_id"],
        "amount": refund["amount"],
    }
    # Counted against the refundable amount when it was asked for: only a return since then makes it fail.
    if charge["status"] == "returned":
        await conn.execute(
            "UPDATE refunds SET status = 'failed', failure_reason = 'payment_returned' WHERE id = $1",
            refund_key,
        )
        await webhook_outbox.enqueue(
            conn, charge["payment_id"], "refund.failed", {**data, "reason": "payment_returned"}
        )
        return
    await conn.execute("UPDATE refunds SET status = 'succeeded' WHERE id = $1", refund_key)
    await ledger.add(
        conn, ledger.money_line(charge, "refund", -refund["amount"], refund_id=refund["refund_id"])
    )
    await webhook_outbox.enqueue(conn, charge["payment_id"], "refund.succeeded", data)


def refund_view(refund: asyncpg.Record, charge: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": refund["id"],
        "refund_id": refund["refund_id"],
        "payment_id": charge["payment_id"],
        "amount": refund["amount"],
        "status": refund["status"],
    }


# --- disputes ----------------------------------------------------------------------------------------------


async def open_dispute(
    conn: asyncpg.Connection, charge: asyncpg.Record, settings: Settings, *, outcome: str | None, reason: str
) -> dict[str, Any]:
    """Open a dispute on a processed charge now: its amount leaves the account, the dispute fee leaves the
    fee account; when `outcome` is given it closes so after SANDBOX_DISPUTE_SECONDS."""
    amount = await refundable(conn, charge)
    if charge["status"] != "succeeded" or amount <= 0:
        raise ApiError(
            422, "payment_not_disputable", "only a processed payment with money left can be disputed"
        )
    dispute_id, fee_id = new_id("dp"), new_id("fee")
    due_by = await conn.fetchval(
        "SELECT now() + $1::interval", timedelta(days=settings.sandbox_evidence_days)
    )
    await conn.execute(
        "INSERT INTO disputes (id, charge_id, amount, reason, status, fee_id, evidence_due_by)"
        " VALUES ($1, $2, $3, $4, 'open', $5, $6)",
        dispute_id,
        charge["id"],
        amount,
        reason,
        fee_id,
        due_by,
    )
    await conn.execute("UPDATE charges SET status = 'disputed' WHERE id = $1", charge["id"])
    await ledger.add(
        conn, ledger.money_line(charge, "dispute", -amount), ledger.fee_line(charge, fee_id, -DISPUTE_FEE)
    )
    data = {
        "firm_id": charge["firm_id"],
        "payment_id": charge["payment_id"],
        "dispute_id": dispute_id,
        "amount": amount,
        "reason": reason,
        "evidence_due_by": due_by.isoformat(),
        "fee": DISPUTE_FEE,
        "fee_id": fee_id,
        "fee_bank_account_id": charge["fee_bank_account_id"],
    }
    await webhook_outbox.enqueue(conn, charge["payment_id"], "dispute.created", data)
    if outcome is not None:
        await timers.schedule(
            conn, timers.CLOSE_DISPUTE, dispute_id, settings.sandbox_dispute_seconds, outcome=outcome
        )
    return data


async def close_dispute(conn: asyncpg.Connection, dispute_id: str, outcome: str) -> None:
    """Won: the amount and the dispute fee come back. Lost: what was taken stays taken."""
    dispute = await conn.fetchrow("SELECT * FROM disputes WHERE id = $1 FOR UPDATE", dispute_id)
    if dispute is None or dispute["status"] != "open":
        return
    charge = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", dispute["charge_id"])
    assert charge is not None
    await conn.execute("UPDATE disputes SET status = $2 WHERE id = $1", dispute_id, outcome)
    data: dict[str, Any] = {
        "firm_id": charge["firm_id"],
        "payment_id": charge["payment_id"],
        "dispute_id": dispute_id,
        "outcome": outcome,
        "amount": dispute["amount"],
    }
    if outcome == "won":
        await conn.execute("UPDATE charges SET status = 'succeeded' WHERE id = $1", charge["id"])
        await ledger.add(
            conn,
            ledger.money_line(charge, "dispute_won", dispute["amount"]),
            ledger.fee_line(charge, dispute["fee_id"], DISPUTE_FEE),
        )
        data |= {"fee_refund": DISPUTE_FEE, "fee_id": dispute["fee_id"]}
    await webhook_outbox.enqueue(conn, charge["payment_id"], "dispute.closed", data)


# --- eCheck returns ----------------------------------------------------------------------------------------


async def return_payment(conn: asyncpg.Connection, charge: asyncpg.Record, reason: str) -> dict[str, Any]:
    """The bank takes a processed eCheck back: what is left of it after refunds paid leaves the account (a
    pending refund then fails: the bank took that money back too)."""
    refunded = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM refunds WHERE charge_id = $1 AND status = 'succeeded'",
        charge["id"],
    )
    amount = int(charge["amount"] - refunded)
    if charge["method"] != "echeck" or charge["status"] != "succeeded" or amount <= 0:
        raise ApiError(422, "payment_not_returnable", "only a processed eCheck can be returned")
    await conn.execute(
        "UPDATE charges SET status = 'returned', failure_reason = $2 WHERE id = $1", charge["id"], reason
    )
    await ledger.add(conn, ledger.money_line(charge, "return", -amount))
    data = {
        "firm_id": charge["firm_id"],
        "payment_id": charge["payment_id"],
        "reason": reason,
        "amount": amount,
    }
    await webhook_outbox.enqueue(conn, charge["payment_id"], "payment.returned", data)
    return data
