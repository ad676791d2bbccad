"""notifier settings: the shared ones (CONTRACT.md section 3) with this service's defaults, plus SMTP and
the email outbox's timing."""

from __future__ import annotations

from email.utils import parseaddr

from pydantic import Field

from paylinks_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notifier"
    http_port: int = 8004
    db_schema: str = "notifier"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool | None = None  # None: use STARTTLS when the server offers it
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    email_from: str = "Paylinks <payments@paylinks.example>"

    reconciliation_base_url: str = "http://127.0.0.1:8003"

    # How long an email waits for names it shows (bank account, bill, billing's outcome) before it goes
    # out with what is known; it goes out at once when they arrive.
    email_context_wait_seconds: float = Field(default=60.0, ge=0)
    # Older events (e.g. a new deployment replaying years of history) are recorded as skipped, not mailed.
    email_max_event_age_hours: float = Field(default=72.0, gt=0)
    email_retry_base_seconds: float = Field(default=2.0, gt=0)
    email_retry_max_seconds: float = Field(default=600.0, gt=0)
    # A claimed email not marked sent by then (the sender crashed) is sent again, with the same Message-ID.
    email_lease_seconds: float = Field(default=120.0, gt=0)
    email_batch_size: int = Field(default=20, ge=1)
    email_poll_seconds: float = Field(default=0.5, gt=0)

    # Unidentified trust money (issue 17): the default number of business days a processed trust payment may
    # stay unlinked before its one reminder (a firm sets its own: PUT /v1/notification-settings).
    unidentified_trust_reminder_business_days: int = Field(default=3, ge=1, le=60)
    # A reminder found due longer ago than this (a new deployment replaying history) is recorded as skipped.
    unidentified_trust_reminder_max_late_days: int = Field(default=30, ge=1)
    reminder_poll_seconds: float = Field(default=60.0, gt=0)

    @property
    def message_id_domain(self) -> str:
        return parseaddr(self.email_from)[1].rpartition("@")[2] or "paylinks.example"
