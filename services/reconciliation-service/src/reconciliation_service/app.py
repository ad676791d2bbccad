"""The reconciliation-service process: the read-model consumer, the staff API and the staff page."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from paylinks_runtime.http import create_service_app, serve
from paylinks_runtime.openapi import declare_bearer_auth
from paylinks_runtime.service import ServiceRuntime

from . import api, money_api, page
from .config import MIGRATIONS, Settings
from .consumer import projection_consumer
from .errors import REFUSALS
from .projection import PROJECTION_TOPICS
from .workspace import routes as workspace


def create_runtime(settings: Settings, topics: Sequence[str] = PROJECTION_TOPICS) -> ServiceRuntime:
    """The service's moving parts: its schema, outbox relay and the read-model consumer on `topics`."""
    return ServiceRuntime(settings, migrations=MIGRATIONS, consumers=[projection_consumer(topics)])


def create_app(settings: Settings | None = None, topics: Sequence[str] = PROJECTION_TOPICS) -> FastAPI:
    settings = settings or Settings()
    runtime = create_runtime(settings, topics)
    app = create_service_app(
        runtime,
        title="reconciliation-service",
        description="Unlinked payments: the staff list, linking to matters and contacts, and the staff page.",
        refusals=REFUSALS,
    )
    declare_bearer_auth(app)
    app.state.settings = settings  # the service's own settings, typed, for the staff page
    app.include_router(api.router)
    app.include_router(money_api.router)
    app.include_router(page.router)
    app.include_router(workspace.router)
    return app


def main() -> None:
    settings = Settings()
    serve(lambda: create_app(settings), settings)
