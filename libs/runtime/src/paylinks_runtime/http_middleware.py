"""The HTTP layer's middlewares, as plain ASGI: request metrics, the body size limit and the NUL guard.

Plain ASGI, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs each request through task
groups and memory streams and re-streams the response, which measured (bench figure 6) at several times
FastAPI's own CPU per request.
"""

from __future__ import annotations

import re
import time
from urllib.parse import unquote_to_bytes

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body
from .metrics import HTTP_LATENCY, HTTP_REQUESTS
from .tracing import current_ids

MAX_BODY_BYTES = 64 * 1024  # CONTRACT.md 2: a larger request body is 413
# A JSON string escape for U+0000 that is not itself an escaped backslash followed by the text "u0000".
_JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# The escape's text, looked for first: the expression tries every position of the body (7 us for a pay
# request's 150 bytes, 3 ms for 64 KiB), the plain search takes 0.5 us.
_NUL_ESCAPE = b"\\u0000"
_FORM = b"application/x-www-form-urlencoded"


def has_nul(scope: Scope, body: bytes) -> bool:
    """A real U+0000 in the path, the query or the body once each is decoded the way its reader will.

    Only what decodes to NUL counts: the text "%00" in a JSON body, or a JSON body that spells a backslash
    then "u0000", is harmless text and passes.
    """
    query = scope.get("query_string", b"")
    return (
        "\x00" in scope["path"]  # uvicorn has already percent-decoded it
        or b"\x00" in _form_decoded(query)
        or b"\x00" in (_form_decoded(body) if _content_type(scope) == _FORM else body)
        or (_NUL_ESCAPE in body and _JSON_NUL_ESCAPE.search(body) is not None)
    )


def _form_decoded(data: bytes) -> bytes:
    return unquote_to_bytes(data.replace(b"+", b" ")) if b"%" in data else data


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type
    return b""


async def buffered_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a `receive` that hands it to the app again (then the real one)."""
    chunks, message = [], await receive()
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
        message = await receive()
    first: Message = message  # the client left: the app sees that
    if message["type"] == "http.request":
        first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return first

    return first.get("body", b""), replay


class RefuseNulCharacters:
    """U+0000 in a path, query or body is refused with 422 before any handler runs.

    Postgres text cannot hold it; refusing it at the edge means no handler ever half-acts on it (a processor
    charged, then the transaction failing on the NUL).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, receive = await buffered_body(receive)
        if has_nul(scope, body):
            refusal = error_body("invalid_character", "text must not contain the NUL character (U+0000)")
            await JSONResponse(refusal, status_code=422)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    """Raised by the capped `receive` once a body passes the limit; never an OSError (the outage handler)."""


class LimitBodySize:
    """A request body over `max_bytes` is 413 before anything reads it whole, auth included.

    A declared Content-Length over the limit is refused before one byte of the body is read. A chunked body
    (no length) is counted as it streams in and refused at the first chunk past the limit; uvicorn stops
    reading the socket while nobody receives, so the rest is never buffered. The 413 closes the connection:
    otherwise the server would go on reading (and discarding) the rest of a 50 MiB upload.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received, started = 0, False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = error_body("too_large", f"the request body must not exceed {self.max_bytes} bytes")
        response = JSONResponse(refusal, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses it before us; never trust it here
    return None


API_PREFIX = "/v1/"
_API_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class ApiResponseHeaders:
    """Every answer under /v1 is private and typed: `Cache-Control: no-store` (no proxy or browser keeps a
    payment or a bill) and `X-Content-Type-Options: nosniff`; a route that sets its own keeps its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _API_HEADERS if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestMetrics:
    """Rate, errors and latency per route, and the X-Trace-Id header on every traced response."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500  # 500 unless a response starts

        async def send_with_trace_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = _with_trace_id(message)
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - started)


def _with_trace_id(start: Message) -> Message:
    """Lets a client or a support ticket point an SRE at the exact trace."""
    ids = current_ids()
    if not ids:
        return start
    return {**start, "headers": [*start.get("headers", []), (b"x-trace-id", ids[0].encode())]}
