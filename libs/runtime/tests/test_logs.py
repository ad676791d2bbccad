"""The repeat limiter: a library's storm of the same line becomes its first line and a count now and then."""

from __future__ import annotations

import logging

import pytest

from paylinks_runtime.logs import RepeatLimiter

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_the_same_library_message_passes_once_per_interval_then_says_how_many_were_held() -> None:
    clock = Clock()
    limiter = RepeatLimiter(("aiokafka",), interval=30, clock=clock)
    passed = []
    for second in range(61):
        clock.now = float(second)
        for node in (1, 2):  # the same format string with other arguments is the same message
            record = _record("aiokafka.conn", "Unable connect to node with id %s", node)
            if limiter.filter(record):
                passed.append((second, record.getMessage()))
    assert passed == [
        (0, "Unable connect to node with id 1"),
        (30, "Unable connect to node with id 1 (and 59 more like it in the last 30 s)"),
        (60, "Unable connect to node with id 1 (and 59 more like it in the last 30 s)"),
    ]


def test_other_messages_and_other_loggers_are_not_held_back() -> None:
    limiter = RepeatLimiter(("aiokafka",), interval=30, clock=Clock())
    assert limiter.filter(_record("aiokafka.conn", "first"))
    assert limiter.filter(_record("aiokafka.client", "first"))
    assert limiter.filter(_record("aiokafka.conn", "second"))
    assert all(limiter.filter(_record("paylinks_runtime.outbox_relay", "relay failed")) for _ in range(5))
