"""The OpenAPI document declares how callers authenticate: a Bearer security scheme (by default the staff
JWT), and on each operation that depends on an authenticating dependency (by default one that gives the
staff user, `auth.require_role`), that it needs it. Clients and fuzzers read it from there."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from .auth import StaffUser

SCHEME = "bearer"
Dependency = Callable[..., Any]


def declare_bearer_auth(
    app: FastAPI,
    *,
    description: str = "a staff JWT",
    bearer_format: str | None = "JWT",
    authenticates: Callable[[Dependency], bool] | None = None,
) -> None:
    """Make `app.openapi()` declare the Bearer scheme and which operations require it: those depending,
    directly or not, on a dependency `authenticates` recognises (by default the staff user's). Computed on
    first use, so routers included after this call count."""
    build = app.openapi
    scheme = {"type": "http", "scheme": "bearer", "bearerFormat": bearer_format, "description": description}
    if bearer_format is None:
        del scheme["bearerFormat"]
    recognised = authenticates or _gives_staff_user

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = scheme
        for path, method in _secured_operations(app, recognised):
            schema["paths"][path][method]["security"] = [{SCHEME: []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _secured_operations(
    app: FastAPI, authenticates: Callable[[Dependency], bool]
) -> Iterator[tuple[str, str]]:
    # iter_route_contexts: included routers with their prefixes, as FastAPI builds the document from them
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if (
            isinstance(route, APIRoute)
            and route.include_in_schema
            and _depends_on(route.dependant, authenticates)
        ):
            for method in context.methods or ():
                yield str(context.path_format), method.lower()


def _depends_on(dependant: Dependant, authenticates: Callable[[Dependency], bool]) -> bool:
    return any(
        (d.call is not None and authenticates(d.call)) or _depends_on(d, authenticates)
        for d in dependant.dependencies
    )


def _gives_staff_user(call: Dependency | None) -> bool:
    """A dependency that authenticates staff: it returns the StaffUser (`auth.require_role`'s, or a
    service's own wrapper of it)."""
    if call is None:
        return False
    try:
        return typing.get_type_hints(call).get("return") is StaffUser
    except (NameError, TypeError):  # a dependency annotated with names this module cannot resolve
        return False
