"""The link-service process: runtime (pool, outbox relay, billing consumer, payment and refund upkeep) and
HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.openapi import declare_bearer_auth
from paylinks_runtime.service import ServiceRuntime

from . import token_redaction
from .api import pay, pay_page, refunds, staff, webhooks
from .api.context import REFUSALS, LinkServiceParts
from .config import Settings
from .payment_upkeep import keep_payments_finished
from .processor import PaymentProcessor
from .processor.http import HttpProcessor
from .reactions import CONSUMER

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: Settings | None = None, processor: PaymentProcessor | None = None) -> FastAPI:
    settings = settings or Settings()
    processor = processor or _http_processor(settings)
    parts: LinkServiceParts  # bound below: the runtime starts its tasks only once the app runs

    async def payment_upkeep(_: ServiceRuntime) -> None:
        await keep_payments_finished(
            parts.intake,
            parts.refunds,
            after_seconds=settings.payment_recovery_after_seconds,
            interval_seconds=settings.payment_recovery_interval_seconds,
        )

    runtime = ServiceRuntime(
        settings,
        migrations=MIGRATIONS,
        consumers=[CONSUMER],
        background=[payment_upkeep],
        kafka_gates_readiness=False,  # payment intake writes to Postgres; the outbox waits for Kafka
    )
    app = create_service_app(
        runtime,
        title="link-service",
        description="Bank-account and bill payment links, QR codes, the client pay page and payment intake",
        refusals=REFUSALS,
        redact_url=token_redaction.redact,
    )
    _close_on_shutdown(app, processor)
    declare_bearer_auth(app)
    token_redaction.install()
    parts = LinkServiceParts(settings, runtime, processor)
    app.state.parts = parts
    # Every payment's routes first: a request is matched against the routes in order, and passing an included
    # router costs 5-20 us (staff's the most); no path of one router matches another's, so order is free.
    app.include_router(pay.router)
    app.include_router(webhooks.router)
    app.include_router(pay_page.router)
    app.include_router(refunds.router)
    app.include_router(staff.router)
    return app


def _http_processor(settings: Settings) -> HttpProcessor:
    return HttpProcessor(
        settings.processor_url,
        settings.processor_api_key,
        timeout_seconds=settings.processor_timeout_seconds,
        attempts=settings.processor_attempts,
    )


def _close_on_shutdown(app: FastAPI, processor: PaymentProcessor) -> None:
    """The processor adapter's connections close after the runtime stopped (nothing sends any more)."""
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        try:
            async with runtime_lifespan(running):
                yield
        finally:
            await processor.aclose()

    app.router.lifespan_context = lifespan


def main() -> None:
    settings = Settings()
    serve(lambda: create_app(settings), settings)
