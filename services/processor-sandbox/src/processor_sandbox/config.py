"""Sandbox settings (CONTRACT.md section 3): the keys, where webhooks go, and the scenario timings."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from paylinks_runtime.settings import (
    DEV_PROCESSOR_API_KEY,
    DEV_PROCESSOR_PUBLISHABLE_KEY,
    DEV_WEBHOOK_SECRET,
    ServiceSettings,
)


class Settings(ServiceSettings):
    service_name: str = "processor-sandbox"
    http_port: int = 8005
    db_schema: str = Field(default="processor_sandbox", pattern=r"^[a-z_][a-z0-9_]*$")

    processor_api_key: str = DEV_PROCESSOR_API_KEY
    processor_publishable_key: str = DEV_PROCESSOR_PUBLISHABLE_KEY
    webhook_secret: str = DEV_WEBHOOK_SECRET
    processor_webhook_url: str = "http://127.0.0.1:8001/v1/processor/webhooks"

    # The outcome timings of CONTRACT.md section 3.
    sandbox_card_settle_seconds: float = Field(default=2.0, ge=0)
    sandbox_echeck_settle_seconds: float = Field(default=5.0, ge=0)
    sandbox_dispute_seconds: float = Field(default=3.0, ge=0)
    sandbox_return_seconds: float = Field(default=5.0, ge=0)
    sandbox_payout_seconds: float = Field(default=30.0, gt=0)

    # How often due outcomes and webhooks are looked for when nothing woke the loops up.
    sandbox_poll_seconds: float = Field(default=0.2, gt=0)
    # Webhook delivery: a few deliveries at once (a loaded receiver is not fed one at a time), retried
    # with exponential backoff; a claimed delivery never finished (a crash) is sent again after the lease.
    sandbox_webhook_workers: int = Field(default=4, ge=1)
    sandbox_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    sandbox_webhook_retry_base_seconds: float = Field(default=1.0, gt=0)
    sandbox_webhook_retry_max_seconds: float = Field(default=60.0, gt=0)
    sandbox_webhook_lease_seconds: float = Field(default=30.0, gt=0)
    # A 4xx other than 409/429 is a receiver that will never take this event: dropped after this many tries.
    sandbox_webhook_max_client_errors: int = Field(default=5, ge=1)
    idempotency_key_hours: float = Field(default=24.0, gt=0)
    # Days from a dispute opening until the merchant's evidence is due.
    sandbox_evidence_days: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _never_in_production(self) -> Self:
        # CONTRACT.md section 4: PAYLINKS_ENV=production marks a production deployment, where no sandbox runs.
        if self.paylinks_env == "production":
            raise ValueError("the sandbox processor never runs in production (PAYLINKS_ENV=production)")
        return self
