"""The server span's name and http.route: what the FastAPI instrumentation's default gives, for every kind of
route (included routers and their prefixes, one path with several methods, path parameters, a mount), found
the cheaper way; and the service app's spans named that way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import _get_default_span_details
from starlette.staticfiles import StaticFiles

from paylinks_runtime.errors import RefusalStatuses
from paylinks_runtime.http import RouteSpanDetails, create_service_app
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.settings import ServiceSettings

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


SCOPES = [
    ("GET", "/v1/pay/tok_1"),
    ("POST", "/v1/pay/tok_1/payments"),
    ("GET", "/v1/pay/tok_1/payments"),  # the path's route, another method: matched partly
    ("POST", "/v1/pay/export"),
    ("GET", "/v1/pay/export"),
    ("DELETE", "/v1/pay/export"),
    ("PUT", "/items/42"),
    ("GET", "/items/forty-two"),  # an int converter's path that is no int
    ("GET", "/static/logo.png"),
    ("GET", "/nowhere"),
    ("FOO", "/v1/pay/tok_1"),  # a method outside HTTP's: named "HTTP"
]


@pytest.mark.parametrize(("method", "path"), SCOPES)
def test_the_span_details_are_the_instrumentations_own(method: str, path: str, tmp_path: Any) -> None:
    app = app_with_routes(tmp_path)
    scope = {"type": "http", "app": app, "method": method, "path": path, "root_path": ""}
    assert RouteSpanDetails(app.routes)(scope) == _get_default_span_details(scope)


def test_a_route_with_several_methods_keeps_its_template(tmp_path: Any) -> None:
    details = RouteSpanDetails(app_with_routes(tmp_path).routes)
    scope = {"type": "http", "method": "PUT", "path": "/items/42", "root_path": ""}
    assert details(scope) == ("PUT /items/{item_id:int}", {"http.route": "/items/{item_id:int}"})


async def test_the_service_apps_server_spans_are_named_by_route_span_details() -> None:
    app = create_service_app(ServiceRuntime(ServiceSettings()), title="t", refusals=RefusalStatuses())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/nowhere")  # the middleware stack is built on the first request
    assert app.middleware_stack is not None
    traced = app.middleware_stack.app.app  # PublicEdgeTrace, ServerErrorMiddleware, the instrumentation's
    assert isinstance(traced, OpenTelemetryMiddleware)
    assert isinstance(traced.default_span_details, RouteSpanDetails)
