"""reconciliation-service settings: the shared ones (CONTRACT.md section 3) with this service's defaults."""

from __future__ import annotations

from paylinks_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "reconciliation-service"
    http_port: int = 8003
    db_schema: str = "reconciliation"
