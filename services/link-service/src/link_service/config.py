"""link-service settings: the shared ones (CONTRACT.md section 4) with this service's defaults."""

from __future__ import annotations

from pydantic import Field

from paylinks_runtime.settings import (
    DEV_PROCESSOR_API_KEY,
    DEV_PROCESSOR_PUBLISHABLE_KEY,
    DEV_WEBHOOK_SECRET,
    ServiceSettings,
)

WEBHOOK_PATH = "/v1/processor/webhooks"


class Settings(ServiceSettings):
    service_name: str = "link-service"
    http_port: int = 8001
    db_schema: str = "link"

    public_base_url: str = "http://127.0.0.1:8001"
    public_path_prefixes: tuple[str, ...] = ("/pay/", "/v1/pay/", WEBHOOK_PATH)
    # Shared with the payment processor: signs its webhooks.
    webhook_secret: str = DEV_WEBHOOK_SECRET
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Server-side key: turns a link's stored random seed into its token. Without it a database dump
    # reveals no live link.
    link_token_secret: str = "dev-only-link-token-secret-change-me-0123456789"  # noqa: S105 - local default
    max_payment_amount: int = Field(default=2_500_000, gt=0)

    # The payment processor (CONTRACT.md section 3): its API for link-service, with the secret key, and
    # where payers' browsers tokenize card and bank details (PROCESSOR_PUBLIC_URL, when it differs).
    processor_url: str = "http://127.0.0.1:8005"
    processor_public_url: str | None = None
    processor_api_key: str = DEV_PROCESSOR_API_KEY
    processor_publishable_key: str = DEV_PROCESSOR_PUBLISHABLE_KEY
    processor_timeout_seconds: float = Field(default=10.0, gt=0)
    processor_attempts: int = Field(default=3, ge=1)
    # An attempt still charging this long after it started lost its request (a crash, no answer): the
    # recovery sends it again with the same idempotency key.
    payment_recovery_after_seconds: float = Field(default=30.0, ge=0)
    payment_recovery_interval_seconds: float = Field(default=5.0, gt=0)

    # In-process sliding-window limits on the public pay endpoints.
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    # Payment attempts with a well-formed body, per link and client; and per link whoever sends them, a
    # ceiling generous enough that nobody can lock a printed QR code's link for everyone else.
    pay_attempts_per_link_and_client: int = Field(default=10, ge=1)
    pay_attempts_per_link: int = Field(default=300, ge=1)
    # A burst of declines on one link is card testing: the link pauses (429 link_paused) for a while.
    link_declines_before_pause: int = Field(default=5, ge=1)
    link_decline_window_seconds: float = Field(default=600.0, gt=0)
    link_pause_seconds: float = Field(default=900.0, gt=0)
    pay_requests_per_client: int = Field(default=120, ge=1)

    @property
    def processor_browser_url(self) -> str:
        return self.processor_public_url or self.processor_url

    def pay_url(self, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/pay/{token}"
