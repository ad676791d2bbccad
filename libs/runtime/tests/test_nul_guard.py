"""The NUL guard refuses what decodes to U+0000, and only that (pure: no app, no server)."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from paylinks_runtime.http_middleware import has_nul

pytestmark = pytest.mark.unit
FORM = [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
JSON = [(b"content-type", b"application/json")]


def scope(path: str = "/v1/x", query: bytes = b"", headers: list[tuple[bytes, bytes]] = JSON) -> Scope:
    return {"type": "http", "path": path, "query_string": query, "headers": headers}


@pytest.mark.parametrize(
    ("request_scope", "body"),
    [
        (scope(path="/v1/bills/a\x00b"), b""),  # %00 in the path, as uvicorn decodes it
        (scope(query=b"q=a%00b"), b""),
        (scope(), b'{"name": "a\\u0000b"}'),
        (scope(), b'{"name": "a\\\\\\u0000b"}'),  # an escaped backslash, then the NUL escape
        (scope(), b'{"name": "a\x00b"}'),
        (scope(headers=FORM), b"name=a%00b&x=1"),
    ],
    ids=["path", "query", "json-escape", "json-escape-after-backslash", "raw-byte", "form"],
)
def test_what_decodes_to_nul_is_refused(request_scope: Scope, body: bytes) -> None:
    assert has_nul(request_scope, body)


@pytest.mark.parametrize(
    ("request_scope", "body"),
    [
        (scope(query=b"q=%2500"), b""),  # the text "%00" in a query
        (scope(query=b"q=%5Cu0000"), b""),  # the text "\u0000" in a query
        (scope(), b'{"reference": "100%00"}'),
        (scope(), b'{"reference": "C:\\\\u0000"}'),  # a backslash, then the text "u0000"
        (scope(headers=FORM), b"name=100%2500"),
    ],
    ids=["query-percent", "query-backslash-u", "json-percent", "json-backslash-u", "form-percent"],
)
def test_harmless_text_that_only_looks_like_nul_passes(request_scope: Scope, body: bytes) -> None:
    assert not has_nul(request_scope, body)
