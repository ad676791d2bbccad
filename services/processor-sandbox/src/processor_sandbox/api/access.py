"""Who may call what: the publishable key tokenizes (from any origin, CORS), the secret key does the rest
(never from a browser), and every secret-key POST that moves money carries an Idempotency-Key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paylinks_runtime.errors import ApiError, RefusalStatuses

from ..runtime import SandboxRuntime

# A processor's refusals are answered by the routes themselves (ApiError); a stray DomainError would be 409.
REFUSALS = RefusalStatuses()
TOKENIZATION_PATH = "/v1/payment_methods"
_CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type"),
    (b"access-control-max-age", b"600"),
]


# Every dependency is `async def`, though none awaits: FastAPI runs a plain `def` one in a worker thread, a
# hand-off to a thread and back on every request (figure 8: a tenth of the sandbox's samples in its threads).
async def runtime(request: Request) -> SandboxRuntime:
    sandbox: SandboxRuntime = request.app.state.runtime
    return sandbox


Runtime = Annotated[SandboxRuntime, Depends(runtime)]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is(token: str, key: str) -> bool:
    return hmac.compare_digest(token.encode(), key.encode())


async def publishable_key(request: Request, sandbox: Runtime) -> None:
    """Tokenization: the publishable key (the browser), or the secret key (a server-side test)."""
    settings, token = sandbox.settings, _bearer(request)
    if not (_is(token, settings.processor_publishable_key) or _is(token, settings.processor_api_key)):
        raise ApiError(401, "unauthorized", "a valid publishable key is required")


async def secret_key(request: Request, sandbox: Runtime) -> None:
    settings, token = sandbox.settings, _bearer(request)
    if not _is(token, settings.processor_api_key):
        raise ApiError(401, "unauthorized", "a valid secret API key is required")
    if "origin" in request.headers:
        raise ApiError(401, "unauthorized", "the secret API key is not accepted from a browser")


async def idempotency_key(idempotency_key: Annotated[str | None, Header(max_length=255)] = None) -> str:
    if not idempotency_key or not idempotency_key.strip():
        raise ApiError(400, "idempotency_key_required", "this request needs an Idempotency-Key header")
    return idempotency_key


async def optional_idempotency_key(
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> str | None:
    return idempotency_key or None


IdempotencyKey = Annotated[str, Depends(idempotency_key)]
OptionalIdempotencyKey = Annotated[str | None, Depends(optional_idempotency_key)]
SecretKey = Depends(secret_key)
PublishableKey = Depends(publishable_key)


class TokenizationCors:
    """CORS for the tokenization endpoint only: any origin, the preflight answered here; every response of
    that path (errors included) carries the headers, so the browser can read a 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TOKENIZATION_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": _CORS_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_CORS_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_cors)
