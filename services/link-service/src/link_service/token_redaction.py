"""Keeps link tokens out of what records request paths: log lines (uvicorn's access log, if ever enabled)
and the HTTP server span's URL attributes (exported to the trace backend: `redact` is the app's
`redact_url`, applied as each server span starts)."""

from __future__ import annotations

import logging
import re

_PAY_PATH = re.compile(r"(/pay/)[^/\s?\"]+")
REDACTED = r"\1<token>"


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
