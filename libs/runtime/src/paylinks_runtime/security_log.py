"""The security log: one structured line (logger `paylinks.security`) and one count per refused attempt.

`refused(reason, **fields)` is the one way in, for the runtime's own refusals (401, 403, 413, 429 of every
service, written by `RefusalLog`) and for a service's (a bad webhook signature, a declined payment). Fields
say who and where (client address, route, link_id); never a token, a secret, a card or account number.
"""

from __future__ import annotations

import json

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import SECURITY_REFUSALS

log = structlog.get_logger("paylinks.security")

# What each refusal status means, as the log's `reason` and the counter's label.
REFUSAL_STATUSES = {401: "unauthorized", 403: "forbidden", 413: "body_too_large", 429: "rate_limited"}
_DETAIL_LIMIT = 2048  # bytes of an error body read for its message


def refused(reason: str, **fields: object) -> None:
    """Log and count one refused attempt."""
    SECURITY_REFUSALS.labels(reason).inc()
    log.warning("refused", reason=reason, **fields)


def client_address(scope: Scope) -> str | None:
    """The peer: the socket's, or what a trusted proxy (FORWARDED_ALLOW_IPS) forwarded."""
    client = scope.get("client")
    return str(client[0]) if client else None


class RefusalLog:
    """Writes the security log line of every 401, 403, 413 and 429 a service answers, with the error's
    message (e.g. "token expired"), the route template (never the raw path: it can hold a pay token), the
    method and the client address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, body = 0, bytearray()

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif status in REFUSAL_STATUSES and len(body) < _DETAIL_LIMIT:
                body.extend(message.get("body", b"")[:_DETAIL_LIMIT])
            await send(message)

        await self.app(scope, receive, watched_send)
        if status in REFUSAL_STATUSES:
            refused(
                REFUSAL_STATUSES[status],
                status=status,
                detail=_error_message(bytes(body)),
                method=scope["method"],
                route=getattr(scope.get("route"), "path", "unmatched"),
                client=client_address(scope),
            )


def _error_message(body: bytes) -> str | None:
    """The contract error's message, if the body is one (HTML pages say less)."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None
    return message if isinstance(message, str) else None
