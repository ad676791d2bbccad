"""JSON under /v1 is never cached nor sniffed: `Cache-Control: no-store`, `X-Content-Type-Options: nosniff`
on every answer of every service, refusals included."""

from __future__ import annotations

import httpx

from .firm import Firm
from .test_staff_auth import STAFF_READS


def assert_private_and_typed(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert response.headers["cache-control"] == "no-store", (response.request.url, response.headers)
    assert response.headers["x-content-type-options"] == "nosniff", (response.request.url, response.headers)


async def test_v1_answers_are_not_stored_nor_sniffed(firm: Firm) -> None:
    # Protection: paylinks_runtime.http_middleware.ApiResponseHeaders around every service.
    for service, path in STAFF_READS:
        client = firm.clients[service]
        read = await client.get(path, headers=firm.staff)
        assert read.status_code == 200
        assert_private_and_typed(read)
        assert_private_and_typed(await client.get(path))  # the 401
        assert_private_and_typed(await client.post(path, content=b"x" * (64 * 1024 + 1)))  # the 413
        assert_private_and_typed(await client.get(path + "/nothing-here"))  # the 404
