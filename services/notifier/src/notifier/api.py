"""HTTP API: who gets a firm's payment emails (admin), and what became of each email (staff)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from paylinks_runtime.auth import StaffUser, require_role
from paylinks_runtime.errors import not_found
from paylinks_runtime.service import ServiceRuntime

from . import commands, email_outbox, store
from .commands import UnknownBankAccount, recipients_writer
from .config import Settings


class RecipientsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emails: list[EmailStr] = Field(max_length=50, description="the group's new list; [] removes the group")
    bank_account_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="a bank account's group; omitted: the firm's"
    )


class RecipientsOut(BaseModel):
    bank_account_id: str | None
    emails: list[str]


def create_router(runtime: ServiceRuntime, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["notifications"])
    admin = Depends(require_role("admin", settings.staff_keys))
    staff = Depends(require_role("staff", settings.staff_keys))

    @router.put("/notification-recipients", response_model=RecipientsOut)
    async def set_recipients(body: RecipientsIn, user: StaffUser = admin) -> RecipientsOut:
        """Who gets payment emails for the firm, or for one of its bank accounts (that group then wins)."""
        try:
            emails = await commands.set_recipients(
                recipients_writer(runtime.writer), user.firm_id, body.bank_account_id, body.emails
            )
        except UnknownBankAccount as exc:
            raise not_found("bank account") from exc
        return RecipientsOut(bank_account_id=body.bank_account_id, emails=emails)

    @router.get("/notification-recipients")
    async def list_recipients(user: StaffUser = staff) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return {"items": await store.list_recipients(conn, user.firm_id)}

    @router.get("/emails")
    async def list_emails(
        user: StaffUser = staff,
        payment_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """The firm's payment emails, newest first: pending (and the last error), sent, or skipped (why)."""
        async with runtime.pool.acquire() as conn:
            return {"items": await email_outbox.for_firm(conn, user.firm_id, payment_id, limit)}

    return router
