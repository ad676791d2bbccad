"""The staff JSON API (CONTRACT.md, reconciliation-service): thin routes that parse, authorise and call a
query or a command."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from paylinks_runtime.errors import ApiError, not_found

from . import commands, cursor, queries, views
from .dependencies import Conn, Staff, writer_of
from .domain import PaymentRef, TargetRequest
from .responses import PaymentDetail, PaymentHistory, PaymentPage, WaitingTotals

PaymentId = Annotated[str, Field(min_length=1, max_length=200)]


class LinkBody(BaseModel):
    matter_id: str | None = Field(default=None, min_length=1, max_length=200)
    contact_id: str | None = Field(default=None, min_length=1, max_length=200)


class UnlinkBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


router = APIRouter(prefix="/v1", tags=["reconciliation"])


@router.get("/unlinked-payments", response_model=PaymentPage)
async def list_unlinked(
    staff: Staff,
    conn: Conn,
    status: Literal["pending", "ready", "failed"] | None = None,
    bank_account_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor_: Annotated[str | None, Query(alias="cursor")] = None,
) -> dict[str, Any]:
    where = queries.ListFilter(
        staff.firm_id, (status,) if status else queries.LISTED_STATUSES, bank_account_id
    )
    rows = await queries.unlinked_page(conn, where, _position(cursor_), limit + 1)
    now = datetime.now(UTC)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = (
        cursor.encode(cursor.Position(page[-1]["received_at"], page[-1]["payment_id"])) if more else None
    )
    return {"items": [views.payment_item(r, now) for r in page], "next_cursor": next_cursor}


@router.get("/unlinked-payments/totals", response_model=WaitingTotals)
async def unlinked_totals(staff: Staff, conn: Conn) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"items": [views.total_item(r, now) for r in await queries.totals(conn, staff.firm_id)]}


@router.get("/payments/{payment_id}", response_model=PaymentDetail)
async def get_payment(payment_id: str, staff: Staff, conn: Conn) -> dict[str, Any]:
    row = await queries.payment(conn, PaymentRef(staff.firm_id, payment_id))
    if row is None:
        raise not_found("payment")
    return views.payment_detail(row, datetime.now(UTC))


@router.get("/payments/{payment_id}/history", response_model=PaymentHistory)
async def payment_history(payment_id: str, staff: Staff, conn: Conn) -> dict[str, Any]:
    ref = PaymentRef(staff.firm_id, payment_id)
    if await queries.payment_status(conn, ref) is None:
        raise not_found("payment")
    return {"items": [views.history_item(r) for r in await queries.history(conn, ref)]}


@router.post("/payments/{payment_id}/link", response_model=PaymentDetail)
async def link(payment_id: str, body: LinkBody, staff: Staff, request: Request) -> dict[str, Any]:
    target = TargetRequest(matter_id=body.matter_id, contact_id=body.contact_id)
    row = await commands.link_payment(
        writer_of(request), PaymentRef(staff.firm_id, payment_id), target, staff.user_id
    )
    return views.payment_detail(row, datetime.now(UTC))


@router.delete("/payments/{payment_id}/link", response_model=PaymentDetail)
async def unlink(payment_id: str, body: UnlinkBody, staff: Staff, request: Request) -> dict[str, Any]:
    row = await commands.unlink_payment(
        writer_of(request), PaymentRef(staff.firm_id, payment_id), body.reason, staff.user_id
    )
    return views.payment_detail(row, datetime.now(UTC))


def _position(raw: str | None) -> cursor.Position | None:
    if raw is None:
        return None
    try:
        return cursor.decode(raw)
    except cursor.InvalidCursor as exc:
        raise ApiError(422, "invalid_cursor", str(exc)) from exc
