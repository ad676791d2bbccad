"""Every service's routes run on the event loop: FastAPI hands a plain `def` endpoint or dependency to a
worker thread on each request (a thread hop and back, and the GIL shared with the loop). The processor
sandbox had three such dependencies; in figure 8 a tenth of its samples were in those threads."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from paylinks_devstack.openapi import PACKAGES

pytestmark = pytest.mark.unit


def runs_on_the_loop(call: Callable[..., Any]) -> bool:
    """What FastAPI awaits itself: a coroutine function or an async generator (a dependency with cleanup)."""
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """The endpoint and every dependency under it, the router's and the include's too."""
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def handed_to_threads(app: FastAPI) -> set[tuple[str | None, str]]:
    return {
        (route.path, str(getattr(call, "__name__", call)))
        for route in iter_route_contexts(app.routes)
        if isinstance(getattr(route, "dependant", None), Dependant)
        for call in calls(route.dependant)
        if not runs_on_the_loop(call)
    }


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_no_endpoint_or_dependency_is_handed_to_a_worker_thread(service: str) -> None:
    app: FastAPI = importlib.import_module(f"{PACKAGES[service]}.app").create_app()
    assert handed_to_threads(app) == set()


def test_the_check_sees_a_plain_def_dependency_under_an_included_router() -> None:
    def plain() -> int:
        return 1

    router = APIRouter()

    @router.get("/x")
    async def endpoint(value: int = Depends(plain)) -> int:
        return value

    app = FastAPI()
    app.include_router(router, prefix="/p")
    assert handed_to_threads(app) == {("/p/x", "plain")}
