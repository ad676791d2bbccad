"""The OpenAPI document declares how staff authenticate: a Bearer (JWT) security scheme, and on each
operation that depends on a staff user (`auth.require_role`), that it needs it. Clients and fuzzers read
it from there."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from .auth import StaffUser

SCHEME = "bearer"
_BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "a staff JWT"}


def declare_bearer_auth(app: FastAPI) -> None:
    """Make `app.openapi()` declare the Bearer scheme and which operations require it (computed on first
    use, so routers included after this call count)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = _BEARER
        for path, method in _staff_operations(app):
            schema["paths"][path][method]["security"] = [{SCHEME: []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _staff_operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    # iter_route_contexts: included routers with their prefixes, as FastAPI builds the document from them
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and _needs_staff(route.dependant):
            for method in context.methods or ():
                yield str(context.path_format), method.lower()


def _needs_staff(dependant: Dependant) -> bool:
    return any(_gives_staff_user(d.call) or _needs_staff(d) for d in dependant.dependencies)


def _gives_staff_user(call: Callable[..., Any] | None) -> bool:
    """A dependency that authenticates staff: it returns the StaffUser (`auth.require_role`'s, or a
    service's own wrapper of it)."""
    if call is None:
        return False
    try:
        return typing.get_type_hints(call).get("return") is StaffUser
    except (NameError, TypeError):  # a dependency annotated with names this module cannot resolve
        return False
