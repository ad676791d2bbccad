"""The link-service process: runtime (pool, outbox relay, billing consumer, sandbox settlements) and HTTP."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.openapi import declare_bearer_auth
from paylinks_runtime.service import ServiceRuntime

from . import token_redaction
from .api import pay, pay_page, staff, webhooks
from .api.context import LinkServiceParts, install_refusal_handler
from .config import Settings
from .processor import PaymentProcessor
from .processor.sandbox import SandboxProcessor
from .processor.sandbox_delivery import sandbox_settlements
from .reactions import CONSUMER

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: Settings | None = None, processor: PaymentProcessor | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        settings,
        migrations=MIGRATIONS,
        consumers=[CONSUMER],
        background=[sandbox_settlements] if processor is None else [],
    )
    app = create_service_app(
        runtime,
        title="link-service",
        description="Bank-account and bill payment links, QR codes, the client pay page and payment intake",
    )
    declare_bearer_auth(app)
    install_refusal_handler(app)
    token_redaction.install()
    app.state.parts = LinkServiceParts(settings, runtime, processor or _sandbox(settings))
    app.include_router(staff.router)
    app.include_router(pay.router)
    app.include_router(pay_page.router)
    app.include_router(webhooks.router)
    return app


def _sandbox(settings: Settings) -> SandboxProcessor:
    return SandboxProcessor(
        card_settle_seconds=settings.sandbox_card_settle_seconds,
        echeck_settle_seconds=settings.sandbox_echeck_settle_seconds,
    )


def main() -> None:
    settings = Settings()
    serve(lambda: create_app(settings), settings)
