"""The sandbox processor process: its runtime (pool, timers, webhook workers, payouts) and its HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.openapi import declare_bearer_auth

from .api import controls, payments, tokenization
from .api.access import REFUSALS, TokenizationCors, publishable_key, secret_key
from .config import Settings
from .runtime import SandboxRuntime


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = SandboxRuntime(settings or Settings())
    app = create_service_app(
        runtime,
        title="processor-sandbox",
        description="A stand-in for a real payment processor's HTTP API: tokens, charges, refunds, disputes,"
        " payouts and signed webhooks, with the test scenarios of CONTRACT.md section 3",
        refusals=REFUSALS,
    )
    declare_bearer_auth(
        app,
        description="a processor key: the secret API key (servers), or the publishable key (tokenization)",
        bearer_format=None,
        authenticates=lambda dependency: dependency in (secret_key, publishable_key),
    )
    app.add_middleware(TokenizationCors)  # outermost: answers the preflight before anything else
    app.include_router(tokenization.router)
    app.include_router(payments.router)
    app.include_router(controls.router)
    return app


def main() -> None:
    settings = Settings()
    serve(lambda: create_app(settings), settings)
