"""One SERVER span a request (server_spans): named by its route for every kind of route (included routers
and their prefixes, one path with several methods, path parameters, a mount), with the request's attributes
(the path redacted), its caller's trace as parent (on a public path only as a link), in error on a 5xx or
an exception; none for the probes, and never a second one from FastAPI's own telemetry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.staticfiles import StaticFiles

from paylinks_runtime.errors import RefusalStatuses
from paylinks_runtime.http import create_service_app
from paylinks_runtime.server_spans import RouteSpanDetails
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.tracing import tracer

pytestmark = pytest.mark.unit


def app_with_routes(tmp_path: Any) -> FastAPI:
    app = FastAPI()
    pay = APIRouter(prefix="/v1/pay")

    @pay.get("/{token}")
    async def show(token: str) -> None: ...

    @pay.post("/{token}/payments")
    async def pay_link(token: str) -> None: ...

    @pay.post("/export")  # after "/{token}"'s GET: the path matches both templates
    async def export() -> None: ...

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> None: ...

    @app.put("/items/{item_id:int}")
    async def replace(item_id: int) -> None: ...

    app.include_router(pay)
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")
    return app


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/v1/pay/tok_1", "GET /v1/pay/{token}"),
        ("POST", "/v1/pay/tok_1/payments", "POST /v1/pay/{token}/payments"),
        ("GET", "/v1/pay/tok_1/payments", "GET /v1/pay/{token}/payments"),  # the path's route, another method
        ("POST", "/v1/pay/export", "POST /v1/pay/export"),  # the first route matching path AND method
        ("GET", "/v1/pay/export", "GET /v1/pay/{token}"),
        ("DELETE", "/v1/pay/export", "DELETE /v1/pay/export"),  # none matches the method: the last path match
        ("PUT", "/items/42", "PUT /items/{item_id:int}"),
        ("GET", "/items/forty-two", "GET"),  # an int converter's path that is no int: no route
        ("GET", "/static/logo.png", "GET /static"),
        ("GET", "/nowhere", "GET"),
        ("FOO", "/v1/pay/tok_1", "HTTP /v1/pay/{token}"),  # a method outside HTTP's
    ],
)
def test_a_span_is_named_by_its_route(method: str, path: str, name: str, tmp_path: Any) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    route = name.partition(" ")[2]
    expected = (name, {"http.route": route} if route else {})
    assert RouteSpanDetails(app_with_routes(tmp_path).routes)(scope) == expected


def service_app() -> FastAPI:
    app = create_service_app(
        ServiceRuntime(ServiceSettings(public_path_prefixes=("/v1/public/",))),
        title="t",
        refusals=RefusalStatuses(),
        redact_url=lambda path: path.replace("secret", "<token>"),
    )

    @app.post("/v1/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    @app.post("/v1/public/{thing}")
    async def public(thing: str) -> dict[str, str]:
        return {"thing": thing}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("the handler broke")

    return app


async def request(app: FastAPI, method: str, path: str, headers: Mapping[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.request(method, path, headers=headers)).status_code


def server_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


async def test_a_request_has_one_server_span_with_its_attributes(spans: InMemorySpanExporter) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = {"traceparent": parent, "user-agent": "tests/1.0"}
    assert await request(service_app(), "POST", "/v1/things/secret?grant=g", headers) == 200
    [span] = server_spans(spans)  # FastAPI's own telemetry makes none
    assert span.name == "POST /v1/things/{thing}"
    attributes = dict(span.attributes or {})
    assert attributes == {
        "http.route": "/v1/things/{thing}",
        "http.request.method": "POST",
        "url.path": "/v1/things/<token>",  # redacted; and the query is not recorded
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "server.address": "test",  # and no server.port: the test transport gives none
        "client.address": "127.0.0.1",
        "user_agent.original": "tests/1.0",
        "http.response.status_code": 200,
    }
    assert span.parent is not None
    assert (format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    )
    assert span.status.status_code == StatusCode.UNSET


async def test_an_exception_ends_the_span_in_error_and_a_4xx_does_not(spans: InMemorySpanExporter) -> None:
    app = service_app()
    assert await request(app, "GET", "/v1/broken") == 500
    assert await request(app, "GET", "/v1/nowhere") == 404
    broken, missing = server_spans(spans)
    assert broken.status.status_code == StatusCode.ERROR
    assert (broken.attributes or {})["error.type"] == "RuntimeError"
    assert [event.name for event in broken.events] == ["exception"]
    assert (missing.name, missing.status.status_code) == ("GET", StatusCode.UNSET)
    assert (missing.attributes or {})["http.response.status_code"] == 404


async def test_the_probes_have_no_span(spans: InMemorySpanExporter) -> None:
    app = service_app()
    assert await request(app, "GET", "/healthz") == 200
    assert await request(app, "GET", "/metrics") == 200
    assert server_spans(spans) == []


async def test_without_a_traceparent_the_current_span_is_the_parent(spans: InMemorySpanExporter) -> None:
    """In a server's request task there is none (a new trace); in process, the caller's span is."""
    with tracer().start_as_current_span("caller") as caller:
        assert await request(service_app(), "POST", "/v1/things/x") == 200
    [span] = server_spans(spans)
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (
        caller.get_span_context().trace_id,
        caller.get_span_context().span_id,
    )


async def test_on_a_public_path_the_callers_trace_is_a_link_not_the_parent(
    spans: InMemorySpanExporter,
) -> None:
    """A payer could otherwise choose the trace id of a payment's events (tests/security: the events)."""
    caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    headers = {"traceparent": f"00-{caller_trace}-{caller_span}-01"}
    assert await request(service_app(), "POST", "/v1/public/x", headers) == 200
    assert await request(service_app(), "POST", "/v1/public/y") == 200
    linked, alone = server_spans(spans)
    assert linked.parent is None
    assert format(linked.context.trace_id, "032x") != caller_trace
    [link] = linked.links
    assert (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) == (
        caller_trace,
        caller_span,
    )
    assert dict(link.attributes or {}) == {"paylinks.link": "caller"}
    assert (alone.parent, list(alone.links)) == (None, [])
