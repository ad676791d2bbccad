"""billing-service settings: the shared ones (CONTRACT.md section 3) with this service's defaults."""

from __future__ import annotations

from paylinks_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "billing-service"
    http_port: int = 8002
    db_schema: str = "billing"
