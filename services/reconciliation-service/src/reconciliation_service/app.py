"""The reconciliation-service process: the read-model consumer, the staff API and the staff page."""

from __future__ import annotations

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.service import ServiceRuntime

from . import api, page
from .config import MIGRATIONS, Settings
from .consumer import PROJECTION_CONSUMER


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, consumers=[PROJECTION_CONSUMER])
    app = create_service_app(
        runtime,
        title="reconciliation-service",
        description="Unlinked payments: the staff list, linking to matters and contacts, and the staff page.",
    )
    app.include_router(api.router)
    app.include_router(page.router)
    return app


def main() -> None:
    settings = Settings()
    serve(lambda: create_app(settings), settings)
