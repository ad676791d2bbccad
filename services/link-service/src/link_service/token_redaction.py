"""Keeps link tokens out of what records request paths: log lines (uvicorn's access log, if ever enabled)
and the HTTP server span's URL attributes (exported to the trace backend)."""

from __future__ import annotations

import logging
import re

from fastapi import Request
from opentelemetry import trace

_PAY_PATH = re.compile(r"(/pay/)[^/\s?\"]+")
REDACTED = r"\1<token>"
_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full")


def redact(text: str) -> str:
    return _PAY_PATH.sub(REDACTED, text)


class RedactPayTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install(logger_names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactPayTokens) for f in logger.filters):
            logger.addFilter(RedactPayTokens())


async def redact_token_from_trace(request: Request) -> None:
    """Router dependency of the public pay routes: overwrite the server span's URL attributes."""
    span = trace.get_current_span()
    recorded = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        if name in recorded:
            span.set_attribute(name, redact(str(recorded[name])))
