"""The notifier process: runtime (pool, migrations, consumer, email sender task) and its HTTP API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.openapi import declare_bearer_auth
from paylinks_runtime.service import ServiceRuntime

from .api import REFUSALS, create_router
from .config import Settings
from .reactions import consumer
from .reminder_task import remind_unidentified_trust
from .sender import send_emails

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    # Background tasks get the pool and the typed settings, not the whole runtime.
    async def email_sender(runtime: ServiceRuntime) -> None:
        await send_emails(runtime.pool, settings)

    async def trust_reminders(runtime: ServiceRuntime) -> None:
        await remind_unidentified_trust(runtime.pool, settings)

    runtime = ServiceRuntime(
        settings,
        migrations=MIGRATIONS,
        consumers=[consumer(settings)],
        background=[email_sender, trust_reminders],
    )
    app = create_service_app(
        runtime,
        title="notifier",
        description="Payment emails to the firm's staff, exactly once, over SMTP",
        refusals=REFUSALS,
    )
    declare_bearer_auth(app)
    app.include_router(create_router(runtime, settings))
    return app


def main() -> None:
    serve(create_app, Settings())
