"""notifier settings: the shared ones (CONTRACT.md section 3) with this service's defaults."""

from __future__ import annotations

from paylinks_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notifier"
    http_port: int = 8004
    db_schema: str = "notifier"
