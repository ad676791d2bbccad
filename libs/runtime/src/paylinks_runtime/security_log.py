"""The security log: one structured line (logger `paylinks.security`) and one count per refused attempt.

`refused(reason, **fields)` is the one way in, for the runtime's own refusals (401, 403, 413, 429 of every
service, written by `RefusalLog`) and for a service's (a bad webhook signature, a declined payment). Fields
say who and where (client address, route, link_id); never a token, a secret, a card or account number.

A route says what it refuses about with `concerning(request, link_id=...)` (its refusal lines carry those
fields), and a route whose every refusal is a refused attempt (the pay API's payments) with `attempt=True`:
each of its 4xx answers is then a line too (reason `attempt_refused`, the error code as `code`), e.g. the
one-cent card tests refused as `amount_below_minimum`.
"""

from __future__ import annotations

import json

import structlog
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import SECURITY_REFUSALS

log = structlog.get_logger("paylinks.security")

# What each refusal status means, as the log's `reason` and the counter's label.
REFUSAL_STATUSES = {
    401: "unauthorized",
    402: "payment_declined",  # the pay API's one answer to any decline: card testing shows up as a burst
    403: "forbidden",
    413: "body_too_large",
    429: "rate_limited",
}
ATTEMPT_REFUSED = "attempt_refused"  # any other 4xx of a route marked attempt=True
_DETAIL_LIMIT = 2048  # bytes of an error body read for its message
_FIELDS = "paylinks_security_fields"  # in the request's state: what its refusal lines also say


def refused(reason: str, **fields: object) -> None:
    """Log and count one refused attempt."""
    SECURITY_REFUSALS.labels(reason).inc()
    log.warning("refused", reason=reason, **fields)


def concerning(connection: HTTPConnection, **fields: str | bool) -> None:
    """Fields of this request's refusal line, if it is refused (e.g. the link a pay token resolved to);
    `attempt=True`: any 4xx answer of it is a refused attempt. Never a token or card data."""
    state = connection.scope.setdefault("state", {})
    state.setdefault(_FIELDS, {}).update(fields)


def client_address(scope: Scope) -> str | None:
    """The peer: the socket's, or what a trusted proxy (FORWARDED_ALLOW_IPS) forwarded."""
    client = scope.get("client")
    return str(client[0]) if client else None


class RefusalLog:
    """Writes the security log line of every 401, 402, 403, 413 and 429 a service answers, with the error's
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
            elif 400 <= status < 500 and len(body) < _DETAIL_LIMIT:
                body.extend(message.get("body", b"")[:_DETAIL_LIMIT])
            await send(message)

        await self.app(scope, receive, watched_send)
        fields = dict(scope.get("state", {}).get(_FIELDS, {}))
        attempt = fields.pop("attempt", False)
        if status in REFUSAL_STATUSES:
            reason = REFUSAL_STATUSES[status]
        elif attempt and 400 <= status < 500:
            reason = ATTEMPT_REFUSED
        else:
            return
        error = _error(bytes(body))
        refused(
            reason,
            status=status,
            code=error.get("code"),
            detail=error.get("message"),
            method=scope["method"],
            route=getattr(scope.get("route"), "path", "unmatched"),
            client=client_address(scope),
            **fields,
        )


def _error(body: bytes) -> dict[str, str]:
    """The contract error's code and message, if the body is one (HTML pages say less)."""
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return {}
    if not isinstance(error, dict):
        return {}
    return {key: error[key] for key in ("code", "message") if isinstance(error.get(key), str)}
