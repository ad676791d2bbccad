"""The HTTP face every service shares: health, readiness, metrics, errors, request metrics and tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol
from wsgiref.simple_server import WSGIServer

import structlog
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server

from .errors import RefusalStatuses, install_error_handlers
from .http_middleware import ApiResponseHeaders, LimitBodySize, RefuseNulCharacters, RequestMetrics
from .logs import setup_logging
from .security_log import RefusalLog
from .server_spans import NATIVE_TELEMETRY_OFF, trace_requests
from .settings import ServiceSettings
from .tracing import setup_tracing

log = structlog.get_logger(__name__)


class Runtime(Protocol):
    """What the HTTP face needs of a process's moving parts: a `ServiceRuntime`, or one without Kafka."""

    @property
    def settings(self) -> ServiceSettings: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def readiness(self) -> dict[str, bool]: ...


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    refusals: RefusalStatuses,
    description: str = "",
    redact_url: Callable[[str], str] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan starts and stops the service runtime; a DomainError a route lets out
    is answered with the status `refusals` gives its code; its server spans' paths pass through
    `redact_url`, if given (server_spans.trace_requests)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        telemetry=NATIVE_TELEMETRY_OFF,  # the server spans are trace_requests'
    )
    app.state.runtime = runtime
    install_error_handlers(app, refusals)
    _add_health_routes(app, runtime)
    app.add_middleware(RefuseNulCharacters)  # buffers the body: inside the size limit
    app.add_middleware(LimitBodySize)
    app.add_middleware(ApiResponseHeaders)  # on the refusals of the two above too
    app.add_middleware(RefusalLog)  # sees every refusal above, and the 401/403/429 of the routes
    app.add_middleware(RequestMetrics, service=runtime.settings.service_name)  # outermost: sees the 422s
    trace_requests(app, public_prefixes=runtime.settings.public_path_prefixes, redact_url=redact_url)
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

    if runtime.settings.ops_port is not None:
        return  # served on the ops port alone (start_ops_server), never on the public one

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def start_ops_server(settings: ServiceSettings) -> WSGIServer | None:
    """With OPS_PORT set, /metrics on that port only (a thread of prometheus_client's, beside uvicorn), so
    that the public port behind the proxy has no ops endpoint to block."""
    if settings.ops_port is None:
        return None
    server, _ = start_http_server(settings.ops_port, addr=settings.http_host)
    return server


def serve(app_factory: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Console entry point of a service: JSON logs, tracing, then uvicorn until SIGTERM/SIGINT."""
    setup_logging(settings.service_name, settings.log_level)
    setup_tracing(settings.service_name)
    start_ops_server(settings)
    config = server_config(
        app_factory(),
        settings,
        host=settings.http_host,
        port=settings.http_port,
        # libuv's loop and the C HTTP parser: the consumers, the relay and the API share one loop per
        # process, so its cost per callback is every part's cost (bench figures 2 and 6)
        loop="uvloop",
        http="httptools",
    )
    uvicorn.Server(config).run()


def server_config(app: FastAPI, settings: ServiceSettings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for a service, in production and in the tests that serve one on a port.

    X-Forwarded-For (and -Proto) are believed only from the proxies in FORWARDED_ALLOW_IPS, by default
    none: uvicorn's own default trusts 127.0.0.1, so anything on the host (or a sidecar) could pick its
    client address, and with it a fresh rate-limit budget and a false line in the security log.
    """
    trusted = settings.forwarded_allow_ips.strip()
    defaults: dict[str, Any] = {"log_config": None, "access_log": False, "lifespan": "on"}
    return uvicorn.Config(
        app, proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None, **(defaults | options)
    )
