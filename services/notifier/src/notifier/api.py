"""HTTP API: who gets a firm's payment emails (admin), and what became of each email (staff)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt

from paylinks_runtime.auth import StaffUser, require_role
from paylinks_runtime.errors import RefusalStatuses, not_found
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


class RecipientsList(BaseModel):
    items: list[RecipientsOut] = Field(description="the firm's group (bank_account_id null) first")


class EmailView(BaseModel):
    """One payment email: pending (with the last error), sent, or skipped (and why)."""

    event_id: str
    event_type: str
    notice: Literal["staff", "payer", "unidentified_trust_reminder"]
    payment_id: str
    status: Literal["pending", "sent", "skipped"]
    skip_reason: str | None
    recipient_group: str
    recipients: list[str]
    message_id: str
    subject: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class EmailList(BaseModel):
    items: list[EmailView]


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unidentified_trust_reminder_business_days: StrictInt = Field(
        ge=1,
        le=60,
        description="business days a processed trust payment may stay unlinked before its reminder",
    )


class TrustReminderView(BaseModel):
    payment_id: str
    bank_account_id: str
    bank_account_name: str | None
    payer_name: str | None
    amount: int
    currency: str
    processed_at: datetime
    business_days: int
    reminded_at: datetime
    linked: bool = Field(description="linked to a client or matter since")
    email_status: str | None = Field(description="pending, sent, or skipped (no recipients)")


class TrustReminderReport(BaseModel):
    month: str
    items: list[TrustReminderView]


# No aggregate here refuses anything: the routes answer their own 404s, a stray DomainError would be 409.
REFUSALS = RefusalStatuses()
_MONTH = re.compile(r"^([1-9]\d{3})-(0[1-9]|1[0-2])$")  # year 0000 is no date Postgres (or Python) takes


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

    @router.get("/notification-recipients", response_model=RecipientsList)
    async def list_recipients(user: StaffUser = staff) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return {"items": await store.list_recipients(conn, user.firm_id)}

    @router.get("/emails", response_model=EmailList)
    async def list_emails(
        user: StaffUser = staff,
        payment_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """The firm's payment emails, newest first: pending (and the last error), sent, or skipped (why)."""
        async with runtime.pool.acquire() as conn:
            return {"items": await email_outbox.for_firm(conn, user.firm_id, payment_id, limit)}

    @router.put("/notification-settings", response_model=NotificationSettings)
    async def set_settings(body: NotificationSettings, user: StaffUser = admin) -> NotificationSettings:
        """The firm's notification settings (today: when an unlinked trust payment gets its reminder)."""
        async with runtime.pool.acquire() as conn:
            await store.set_reminder_business_days(
                conn, user.firm_id, body.unidentified_trust_reminder_business_days
            )
        return body

    @router.get("/notification-settings", response_model=NotificationSettings)
    async def get_settings(user: StaffUser = staff) -> NotificationSettings:
        async with runtime.pool.acquire() as conn:
            days = await store.reminder_business_days(conn, user.firm_id)
        default = settings.unidentified_trust_reminder_business_days
        return NotificationSettings(unidentified_trust_reminder_business_days=days or default)

    @router.get("/unidentified-trust-reminders", response_model=TrustReminderReport)
    async def trust_reminders(
        month: Annotated[str, Query(pattern=_MONTH.pattern, description="YYYY-MM (UTC)")],
        user: StaffUser = staff,
    ) -> dict[str, Any]:
        """The month-end report: the unidentified-trust reminders sent that month."""
        year, number = (int(part) for part in month.split("-"))
        async with runtime.pool.acquire() as conn:
            items = await store.reminders_in_month(conn, user.firm_id, year, number)
        return {"month": month, "items": items}

    return router
