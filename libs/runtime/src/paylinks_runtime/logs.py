"""JSON logs through structlog, for our own loggers and the standard library's, each line with trace ids."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import structlog

from .tracing import current_ids

_NOISY_LIBRARIES = ("aiokafka", "kafka")


def add_trace_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The current span's trace and span ids on the line: where in which trace it was written."""
    ids = current_ids()
    if ids:
        event["trace_id"], event["span_id"] = ids
    return event


def event_log_context(event_id: str | None, event_type: str | None) -> AbstractContextManager[object]:
    """Every line logged inside names the event being handled (with `merge_contextvars` in the chain),
    so a failure deep in a handler, the relay or a dead-letter send says which event it was about."""
    bound = {"event_id": event_id, "event_type": event_type}
    return structlog.contextvars.bound_contextvars(**{k: v for k, v in bound.items() if v})


# What every line carries of where it was written: the event bound by `event_log_context`, the span.
LINE_CONTEXT = (structlog.contextvars.merge_contextvars, add_trace_ids)


class RepeatLimiter(logging.Filter):
    """Lets a library's same message through once per `interval` seconds, counting the ones it held back.

    During a broker outage aiokafka logs the same connection error for every client at every retry (many
    lines a second per service); an SRE needs the first line, then one line now and then that says how many
    more there were. Messages are told apart by logger and format string, not by their arguments.
    """

    def __init__(
        self, prefixes: tuple[str, ...], interval: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, object], float] = {}
        self._held: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.msg)
        now = self._clock()
        if now - self._last.get(key, float("-inf")) < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self._interval:.0f} s)"
        return True


def setup_logging(service_name: str, level: str = "INFO") -> None:
    shared: list[Any] = [
        *LINE_CONTEXT,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        lambda _, __, event: {**event, "service": service_name},
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatLimiter(_NOISY_LIBRARIES))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in (*_NOISY_LIBRARIES, "uvicorn.access", "httpx"):  # httpx: a line per request made
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
