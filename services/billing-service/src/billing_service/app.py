"""The billing-service process: runtime (pool, migrations, relay, consumer) and its HTTP API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.openapi import declare_bearer_auth
from paylinks_runtime.service import ServiceRuntime

from .api import REFUSALS, bills_router
from .config import Settings
from .reactions import CONSUMER

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, consumers=[CONSUMER])
    app = create_service_app(
        runtime,
        title="billing-service",
        description="Bills that processed payments are applied to; voiding; no payment ever lost.",
        refusals=REFUSALS,
    )
    declare_bearer_auth(app)
    app.include_router(bills_router(runtime, settings))
    return app


def main() -> None:
    serve(create_app, Settings())
