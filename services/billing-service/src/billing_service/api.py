"""HTTP API of billing-service (CONTRACT.md section 2): parse, authorise, call a command or a query."""

# No `from __future__ import annotations` here: FastAPI must resolve the route-local `staff` dependency.

from datetime import date, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, Field, StrictInt

from paylinks_events.currencies import iso_4217
from paylinks_runtime.auth import StaffUser, require_role
from paylinks_runtime.errors import RefusalStatuses, not_found
from paylinks_runtime.service import ServiceRuntime

from . import commands, read_model, voids_applied
from .config import Settings
from .domain import BillState, BillTerms
from .tables import billing_writer

log = structlog.get_logger(__name__)

MAX_BILL_AMOUNT = 10**12  # minor units; far above any bill, well inside bigint
REFUSALS = RefusalStatuses(
    {
        "unknown_matter": 422,  # a bill names a matter or contact the firm does not have
        "unknown_contact": 422,
        "bill_has_payments": 409,  # voiding a bill payments were applied to
    }
)


class NewBill(BaseModel):
    matter_id: str = Field(min_length=1, max_length=200)
    contact_id: str = Field(min_length=1, max_length=200)
    amount: StrictInt = Field(gt=0, le=MAX_BILL_AMOUNT, description="integer minor units: 12500 = 125.00")
    currency: Annotated[str, AfterValidator(iso_4217)] = "USD"
    bill_number: str | None = Field(default=None, min_length=1, max_length=64)
    due_date: date | None = None

    def terms(self, firm_id: str) -> BillTerms:
        return BillTerms(firm_id=firm_id, **self.model_dump())


class AppliedPaymentView(BaseModel):
    payment_id: str
    amount: int = Field(description="what this payment has on the bill now, after any reversal")
    reversed_amount: int = Field(description="what refunds, disputes and returns of it gave back")
    applied_at: datetime


class HistoryEntry(BaseModel):
    """Why the balance moved: a payment applied, reversed (refund, dispute, return) or left unallocated."""

    type: Literal["applied", "reversed", "unallocated"]
    payment_id: str
    amount: int
    balance: int | None = Field(description="the bill's balance after it; null for an unallocated part")
    reason: str | None = Field(description="refund|dispute|return when reversed; bill_void|overpayment")
    at: datetime


class BillSummary(BaseModel):
    bill_id: str
    state: BillState
    amount: int
    balance: int
    currency: str
    matter_id: str
    contact_id: str
    bill_number: str | None
    due_date: date | None
    issued_at: datetime


class BillView(BillSummary):
    payments: list[AppliedPaymentView]
    history: list[HistoryEntry]


class BillList(BaseModel):
    items: list[BillSummary]


class VoidResult(BaseModel):
    bill_id: str
    state: Literal["void"]
    links_closed: bool = Field(
        description="true once link-service refuses payment on every pay link of the bill; false when it "
        "had not within VOID_LINKS_TIMEOUT_SECONDS (it will, once it reads the void)"
    )


def bills_router(runtime: ServiceRuntime, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1/bills", tags=["bills"])
    staff = Annotated[StaffUser, Depends(require_role("staff", runtime.settings.staff_keys))]

    @router.post("", status_code=201, response_model=BillView)
    async def issue_bill(body: NewBill, user: staff) -> dict[str, Any]:
        bill_id = await commands.issue_bill(billing_writer(runtime.writer), body.terms(user.firm_id))
        return await _bill(runtime, user.firm_id, bill_id)

    @router.get("/{bill_id}", response_model=BillView)
    async def get_bill(bill_id: str, user: staff) -> dict[str, Any]:
        return await _bill(runtime, user.firm_id, bill_id)

    @router.get("", response_model=BillList)
    async def list_bills(
        user: staff, state: BillState | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return {"items": await read_model.list_bills(conn, user.firm_id, state, limit)}

    @router.post("/{bill_id}/void", response_model=VoidResult)
    async def void_bill(bill_id: str, user: staff) -> dict[str, Any]:
        try:
            await commands.void_bill(billing_writer(runtime.writer), user.firm_id, bill_id)
        except commands.BillNotFound as exc:
            raise not_found("bill") from exc
        closed = await voids_applied.wait_until_closed(
            runtime.pool, user.firm_id, bill_id, settings.void_links_timeout_seconds
        )
        if not closed:
            log.warning("bill voided, its pay links not yet closed", bill_id=bill_id, firm_id=user.firm_id)
        return {"bill_id": bill_id, "state": "void", "links_closed": closed}

    return router


async def _bill(runtime: ServiceRuntime, firm_id: str, bill_id: str) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        bill = await read_model.find_bill(conn, firm_id, bill_id)
    if bill is None:
        raise not_found("bill")
    return bill
