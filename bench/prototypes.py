"""Prototypes of runtime fixes, measured beside the runtime as it is (see bench/README.md, figure 6).

They exist to prove a fix's gain before it is made in libs/runtime; delete each once the runtime has it.

`python -m bench.prototypes` runs link-service with the HTTP layer of paylinks_runtime.http rewritten as
plain ASGI middleware. As it is, its two `@app.middleware("http")` functions (the NUL guard and the request
metrics) are Starlette BaseHTTPMiddleware: each request goes through two anyio task groups and memory
streams, and the response is re-streamed twice, which costs more CPU than FastAPI's own work for the request.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paylinks_runtime import http
from paylinks_runtime.errors import error_body
from paylinks_runtime.metrics import HTTP_LATENCY, HTTP_REQUESTS
from paylinks_runtime.tracing import current_ids


async def buffered_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a `receive` that hands it to the app again (then the real one)."""
    chunks, message = [], await receive()
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
        message = await receive()
    if message["type"] != "http.request":  # the client left: let the app see it
        first: Message = message
    else:
        first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return first

    return first.get("body", b""), replay


class RefuseNul:
    """`_refuse_nul_characters` as ASGI: the same check of path, query and body, the same 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, receive = await buffered_body(receive)
        target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if http._has_nul(target) or http._has_nul(body):
            refusal = error_body("invalid_character", "text must not contain the NUL character (U+0000)")
            await JSONResponse(refusal, status_code=422)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class RequestMetrics:
    """`_add_request_metrics` as ASGI: the same counters, latency and X-Trace-Id header."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_with_trace_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                ids = current_ids()
                if ids:
                    message = {**message, "headers": [*message["headers"], (b"x-trace-id", ids[0].encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], route).observe(time.perf_counter() - started)


def install_asgi_middleware() -> None:
    """Make create_service_app add the ASGI versions, in the same order (metrics outside the NUL guard)."""

    def refuse_nul(app: FastAPI) -> None:
        app.add_middleware(RefuseNul)

    def request_metrics(app: FastAPI, service: str) -> None:
        app.add_middleware(RequestMetrics, service=service)

    http._refuse_nul_characters = refuse_nul
    http._add_request_metrics = request_metrics


def main() -> None:
    from link_service.app import main as link_service

    install_asgi_middleware()
    link_service()


if __name__ == "__main__":
    main()
