"""One SERVER span a request, as OpenTelemetry's HTTP semantic conventions describe it, made by a middleware
around the whole app (`trace_requests`).

Ours rather than the ASGI instrumentation's: that one cost ~210 us of CPU a request beside an untraced app
(a trivial route, in process), where the span itself costs ~35 us; it decodes every header again for each
of the nine it looks up, builds each attribute of the old conventions through a chain of helpers, and matches
every route's full Starlette `matches` to name the span. Here: one pass over the headers, the stable
conventions' attributes in one dict, the route found by `RouteSpanDetails`. FastAPI's own telemetry stays off
(`NATIVE_TELEMETRY_OFF`): it would make a second server span a request, its URL unredacted.

What a span holds: the method, the route template (`http.route`, and in the name), the path (through the
service's `redact_url`: pay tokens never reach the trace backend), the scheme, the server's and the client's
addresses, the protocol version, the user agent and the response status. Not the query string: a staff page's
single-use grant travels in it. A 5xx answer or an exception that escapes the app ends the span in error.
The caller's `traceparent` is its parent, except on the service's public paths (pay pages, the pay API, the
processor's webhooks): there anyone could otherwise pick the trace id of a payment's events, or join them to
a trace of their own, so the request starts a trace of its own and keeps the caller's context as a link.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.telemetry import TelemetryConfig
from opentelemetry.semconv.attributes import (
    client_attributes,
    error_attributes,
    http_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from starlette._utils import get_route_path
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .tracing import context_from, current, link_to, tracer

NATIVE_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes, every few seconds
# The methods HTTP defines; any other is "_OTHER" in the attributes and "HTTP" in the span's name.
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
_READ_HEADERS = (b"traceparent", b"tracestate", b"user-agent")


def trace_requests(
    app: FastAPI, *, public_prefixes: tuple[str, ...] = (), redact_url: Callable[[str], str] | None = None
) -> None:
    """Wrap the app's middleware stack (built at its first request, every route added by then) in
    `ServerSpans`. The app was made with `NATIVE_TELEMETRY_OFF`."""
    build_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return ServerSpans(build_stack(), RouteSpanDetails(app.routes), public_prefixes, redact_url)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


class RouteSpanDetails:
    """A server span's name and `http.route`: the route template of the first route matching path and
    method, else of the last matching the path alone (as the FastAPI instrumentation named them). Each
    route's path regex alone, not its full Starlette `matches` (a child scope each: ~90 us a request on
    link-service's 20 routes)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = [
            (route.path_regex, route.path, getattr(route, "methods", None))
            for route in iter_route_contexts(routes)
            if hasattr(route, "path_regex")  # a Host route has none
        ]

    def __call__(self, scope: Scope) -> tuple[str, dict[str, str]]:
        method = scope.get("method", "")
        route = self._route(get_route_path(scope), method)
        name = method if method in KNOWN_METHODS else "HTTP"
        if route is None:
            return name, {}
        return f"{name} {route}", {http_attributes.HTTP_ROUTE: route}

    def _route(self, path: str, method: str) -> str | None:
        partial = None
        for regex, template, methods in self._routes:
            if regex.match(path):
                if methods is None or method in methods:
                    return str(template)
                partial = str(template)
        return partial


class ServerSpans:
    def __init__(
        self,
        app: ASGIApp,
        details: RouteSpanDetails,
        public_prefixes: tuple[str, ...] = (),
        redact_url: Callable[[str], str] | None = None,
    ) -> None:
        self.app = app
        self._details = details
        self._public = public_prefixes
        self._redact = redact_url or _unchanged

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        span = self._start(scope)

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                _answered(span, message["status"])
            await send(message)

        with current(span):
            try:
                await self.app(scope, receive, send_status)
            except Exception as exc:
                _failed(span, exc)
                raise
            finally:
                span.end()

    def _start(self, scope: Scope) -> Span:
        read = {name: value.decode("latin-1") for name, value in scope["headers"] if name in _READ_HEADERS}
        name, attributes = self._details(scope)
        attributes |= self._request_attributes(scope, read.get(b"user-agent"))
        traceparent, tracestate = read.get(b"traceparent"), read.get(b"tracestate")
        if self._public and scope["path"].startswith(self._public):
            caller = link_to(traceparent, tracestate) if traceparent else None
            links = [Link(caller.context, {"paylinks.link": "caller"})] if caller else None
            return tracer().start_span(name, kind=SpanKind.SERVER, attributes=attributes, links=links)
        # No traceparent: the current context's span is the parent (in a server's request task, none; in a
        # test calling the app in process, the test's).
        parent = context_from(traceparent, tracestate) if traceparent else None
        return tracer().start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)

    def _request_attributes(self, scope: Scope, user_agent: str | None) -> dict[str, Any]:
        method = scope["method"]
        attributes: dict[str, Any] = {
            http_attributes.HTTP_REQUEST_METHOD: method if method in KNOWN_METHODS else "_OTHER",
            url_attributes.URL_PATH: self._redact(scope["path"]),
            url_attributes.URL_SCHEME: scope.get("scheme", "http"),
            network_attributes.NETWORK_PROTOCOL_VERSION: scope.get("http_version", "1.1"),
        }
        if method not in KNOWN_METHODS:
            attributes[http_attributes.HTTP_REQUEST_METHOD_ORIGINAL] = method
        if server := scope.get("server"):
            host, port = server
            attributes[server_attributes.SERVER_ADDRESS] = host
            if port is not None:  # None on a Unix socket
                attributes[server_attributes.SERVER_PORT] = port
        if client := scope.get("client"):
            attributes[client_attributes.CLIENT_ADDRESS] = client[0]
        if user_agent:
            attributes[user_agent_attributes.USER_AGENT_ORIGINAL] = user_agent
        return attributes


def _answered(span: Span, status: int) -> None:
    span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, status)
    if status >= 500:  # a 4xx is the client's error, not the server's (the conventions' rule)
        span.set_attribute(error_attributes.ERROR_TYPE, str(status))
        span.set_status(Status(StatusCode.ERROR))


def _failed(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_attribute(error_attributes.ERROR_TYPE, type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _unchanged(path: str) -> str:
    return path
