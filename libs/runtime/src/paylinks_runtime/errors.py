"""The contract's error shape, `{"error": {"code", "message"}}`, for every failure an API returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .aggregate import DomainError
from .db import database_unavailable

log = structlog.get_logger(__name__)
RETRY_AFTER_SECONDS = "2"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


@dataclass(frozen=True)
class RefusalStatuses:
    """One service's mapping from its domain refusals to HTTP statuses, by DomainError code: the code
    decides, not the class, since a refusal replayed from storage (an idempotent retry) is a plain
    DomainError. A code the table does not name gets `default`. Every service gives its table to
    `create_service_app`; pages that answer a refusal themselves ask the same table."""

    by_code: Mapping[str, int] = field(default_factory=dict)
    default: int = 409

    def status(self, refusal: DomainError) -> int:
        return self.by_code.get(refusal.code, self.default)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def install_error_handlers(app: FastAPI, refusals: RefusalStatuses) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=refusals.status(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("validation_error", _describe(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def outage(request: Request, exc: Exception) -> JSONResponse:
        """The database is down: 503 and Retry-After, so clients and load balancers retry; nothing half-done,
        since a command's transaction never committed."""
        if not database_unavailable(exc):
            raise exc  # a real bug: the 500 handler below, with its traceback in the log
        log.warning("database unavailable", path=request.url.path, error=repr(exc))
        return JSONResponse(
            error_body("unavailable", "the service is temporarily unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    for outage_error in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(outage_error, outage)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, __: Exception) -> JSONResponse:
        # The traceback goes to the log (uvicorn logs it); the client never sees it.
        return JSONResponse(error_body("internal", "internal error"), status_code=500)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"
