"""link-service settings: the shared ones (CONTRACT.md section 3) with this service's defaults."""

from __future__ import annotations

from pydantic import Field

from paylinks_runtime.settings import ServiceSettings

WEBHOOK_PATH = "/v1/processor/webhooks"


class Settings(ServiceSettings):
    service_name: str = "link-service"
    http_port: int = 8001
    db_schema: str = "link"

    public_base_url: str = "http://127.0.0.1:8001"
    public_path_prefixes: tuple[str, ...] = ("/pay/", "/v1/pay/", WEBHOOK_PATH)
    # Shared with the payment processor: signs its webhooks.
    webhook_secret: str = "dev-only-webhook-secret-change-me-0123456789"  # noqa: S105 - local default
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Server-side key: turns a link's stored random seed into its token, and keys the idempotency
    # fingerprints. Without it a database dump reveals no live link.
    link_token_secret: str = "dev-only-link-token-secret-change-me-0123456789"  # noqa: S105 - local default
    max_payment_amount: int = Field(default=2_500_000, gt=0)

    payment_processor: str = Field(default="sandbox", pattern=r"^sandbox$")
    sandbox_card_settle_seconds: float = Field(default=2.0, ge=0)
    sandbox_echeck_settle_seconds: float = Field(default=5.0, ge=0)
    # Where the sandbox delivers its webhooks; defaults to this service's own endpoint.
    sandbox_webhook_url: str | None = None
    sandbox_poll_seconds: float = Field(default=0.2, gt=0)

    # In-process sliding-window limits on the public pay endpoints.
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    pay_attempts_per_token: int = Field(default=10, ge=1)
    pay_requests_per_client: int = Field(default=120, ge=1)

    @property
    def webhook_url(self) -> str:
        return self.sandbox_webhook_url or self.public_base_url.rstrip("/") + WEBHOOK_PATH

    def pay_url(self, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/pay/{token}"
