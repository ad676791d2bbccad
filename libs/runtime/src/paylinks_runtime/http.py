"""The HTTP face every service shares: health, readiness, metrics, errors, request metrics and tracing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .errors import error_body, install_error_handlers
from .logs import setup_logging
from .metrics import HTTP_LATENCY, HTTP_REQUESTS
from .service import ServiceRuntime
from .settings import ServiceSettings
from .tracing import current_ids, setup_tracing

log = structlog.get_logger(__name__)
_UNTRACED = "healthz,readyz,metrics"


def create_service_app(runtime: ServiceRuntime, *, title: str, description: str = "") -> FastAPI:
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
    _refuse_nul_characters(app)
    _add_health_routes(app, runtime)
    _add_request_metrics(app, runtime.settings.service_name)
    FastAPIInstrumentor.instrument_app(app, excluded_urls=_UNTRACED)
    return app


def _add_health_routes(app: FastAPI, runtime: ServiceRuntime) -> None:
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


_NUL_MARKERS = (b"\x00", b"%00", b"\\u0000")


def _has_nul(data: bytes) -> bool:
    return any(marker in data.lower() for marker in _NUL_MARKERS)


def _refuse_nul_characters(app: FastAPI) -> None:
    """U+0000 in a path, query or body is refused with 422 before any handler runs.

    Postgres text cannot hold it; refusing it at the edge means no handler ever half-acts on it (a processor
    charged, then the transaction failing on the NUL). A JSON body that spells a literal backslash-u0000 is
    refused too: a false alarm that costs nothing, since no payment field needs that text.
    """

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        target = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
        if _has_nul(target) or _has_nul(await request.body()):
            body = error_body("invalid_character", "text must not contain the NUL character (U+0000)")
            return JSONResponse(body, status_code=422)
        return await call_next(request)


def _add_request_metrics(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        ids = current_ids()
        if ids:  # lets a client or a support ticket point an SRE at the exact trace
            response.headers["X-Trace-Id"] = ids[0]
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
        return response


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
    )
