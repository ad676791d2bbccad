"""billing-service settings: the shared ones (CONTRACT.md section 3) with this service's defaults."""

from __future__ import annotations

from pydantic import Field

from paylinks_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "billing-service"
    http_port: int = 8002
    db_schema: str = "billing"
    # A void answers once link-service has revoked the bill's pay links (no payment after the answer), or
    # after this long with `links_closed: false` (link-service down or behind).
    void_links_timeout_seconds: float = Field(default=10.0, ge=0)
