"""The HTTP face every service shares: health, readiness, metrics, errors, request metrics and tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .errors import install_error_handlers
from .http_middleware import ApiResponseHeaders, LimitBodySize, RefuseNulCharacters, RequestMetrics
from .logs import setup_logging
from .settings import ServiceSettings
from .tracing import setup_tracing

log = structlog.get_logger(__name__)
_UNTRACED = "healthz,readyz,metrics"


class Runtime(Protocol):
    """What the HTTP face needs of a process's moving parts: a `ServiceRuntime`, or one without Kafka."""

    @property
    def settings(self) -> ServiceSettings: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def readiness(self) -> dict[str, bool]: ...


def create_service_app(runtime: Runtime, *, title: str, description: str = "") -> FastAPI:
    """A FastAPI app whose lifespan starts and stops the service runtime."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    _add_health_routes(app, runtime)
    app.add_middleware(RefuseNulCharacters)  # buffers the body: inside the size limit
    app.add_middleware(LimitBodySize)
    app.add_middleware(ApiResponseHeaders)  # on the refusals of the two above too
    app.add_middleware(RequestMetrics, service=runtime.settings.service_name)  # outermost: sees the 422s
    # One server span a request; the per-message receive/send spans cost more than they tell.
    FastAPIInstrumentor.instrument_app(app, excluded_urls=_UNTRACED, exclude_spans=["receive", "send"])
    return app


def _add_health_routes(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/healthz", include_in_schema=True, tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def serve(app_factory: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Console entry point of a service: JSON logs, tracing, then uvicorn until SIGTERM/SIGINT."""
    setup_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name)
    uvicorn.run(
        app_factory(),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # libuv's loop and the C HTTP parser: the consumers, the relay and the API share one loop per
        # process, so its cost per callback is every part's cost (bench figures 2 and 6)
        loop="uvloop",
        http="httptools",
    )
