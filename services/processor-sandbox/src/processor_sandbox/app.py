"""The sandbox processor process: its runtime (pool, timers, webhook workers, payouts) and its HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve

from .api import controls, payments, tokenization
from .api.access import TokenizationCors
from .config import Settings
from .runtime import SandboxRuntime


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = SandboxRuntime(settings or Settings())
    app = create_service_app(
        runtime,
        title="processor-sandbox",
        description="A stand-in for a real payment processor's HTTP API: tokens, charges, refunds, disputes,"
        " payouts and signed webhooks, with the test scenarios of CONTRACT.md section 3",
    )
    app.add_middleware(TokenizationCors)  # outermost: answers the preflight before anything else
    app.include_router(tokenization.router)
    app.include_router(payments.router)
    app.include_router(controls.router)
    return app


def main() -> None:
    settings = Settings()
    serve(lambda: create_app(settings), settings)
