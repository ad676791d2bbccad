"""Whose X-Forwarded-For a service believes: only the proxies of FORWARDED_ALLOW_IPS (none by default)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.testing import free_socket, serving


def echo_client_app() -> FastAPI:
    app = FastAPI()

    @app.get("/client")
    async def client(request: Request) -> str:
        return request.client.host if request.client else "none"

    return app


@pytest.mark.parametrize(
    ("trusted", "seen"),
    [("", "127.0.0.1"), ("10.0.0.0/8", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")],
    ids=["nobody-by-default", "another-proxy", "the-named-proxy"],
)
async def test_a_forwarded_address_counts_only_from_a_named_proxy(trusted: str, seen: str) -> None:
    settings = ServiceSettings(forwarded_allow_ips=trusted)
    served = serving(echo_client_app(), free_socket(), lifespan="off", settings=settings)
    async with served as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/client", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.json() == seen
