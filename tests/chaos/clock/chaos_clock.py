"""The `clock_skew` fault's hook: this process's wall clock runs off by the number of seconds written in
$CHAOS_CLOCK_DIR/<its $OTEL_SERVICE_NAME> (0 or no file: the true time), re-read a few times a second, so
a test can make it jump forwards or backwards mid-run. libfaketime is not installed here; this shifts what
Python code reads: `time.time`, `time.time_ns`, `datetime.now`/`utcnow`/`today` and `date.today`. The
monotonic clock is left alone, as a jumping wall clock leaves it: leases and timeouts that use it (or the
database's `now()`) must not notice.

Imported at start-up by tests/chaos/mutations/sitecustomize.py when CHAOS_CLOCK_DIR is set (only one
sitecustomize loads per process); tests/chaos/clock is on the services' PYTHONPATH."""

from __future__ import annotations

import datetime as _datetime
import os
import sys
import threading
import time
from pathlib import Path

_POLL_SECONDS = 0.2
_true_time = time.time
_true_time_ns = time.time_ns
_offset = 0.0


def _skewed_time() -> float:
    return _true_time() + _offset


def _skewed_time_ns() -> int:
    return _true_time_ns() + int(_offset * 1_000_000_000)


class _SkewedDatetime(_datetime.datetime):
    """datetime whose "now" reads the skewed clock (the C type's now() reads the system clock itself). No
    __dict__: compiled extensions (asyncpg) check the type's size against the C one when they import."""

    __slots__ = ()

    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> _SkewedDatetime:
        return cls.fromtimestamp(_skewed_time(), tz)

    @classmethod
    def utcnow(cls) -> _SkewedDatetime:
        return cls.fromtimestamp(_skewed_time(), _datetime.UTC).replace(tzinfo=None)

    @classmethod
    def today(cls) -> _SkewedDatetime:
        return cls.fromtimestamp(_skewed_time())


class _SkewedDate(_datetime.date):
    __slots__ = ()

    @classmethod
    def today(cls) -> _SkewedDate:
        return cls.fromtimestamp(_skewed_time())


def _read_offset(path: Path, last: float = 0.0) -> float:
    """The file's offset; 0 (the true time) without a file. A file caught half-written (empty, or cut short)
    keeps the `last` offset: reading it as 0 made the clock jump back to the true time for a poll."""
    try:
        return float(path.read_text())
    except FileNotFoundError:
        return 0.0
    except (OSError, ValueError):
        return last


def _follow(path: Path) -> None:
    global _offset
    while True:
        _offset = _read_offset(path, _offset)
        time.sleep(_POLL_SECONDS)


def install(path: Path) -> None:
    global _offset
    _offset = _read_offset(path)
    if "pydantic" in sys.modules:  # its models would meet a datetime type it does not know
        raise RuntimeError("chaos_clock must be installed before pydantic is imported")
    time.time = _skewed_time
    time.time_ns = _skewed_time_ns
    _datetime.datetime = _SkewedDatetime  # type: ignore[misc]
    _datetime.date = _SkewedDate  # type: ignore[misc]
    threading.Thread(target=_follow, args=(path,), name="chaos-clock", daemon=True).start()


if os.environ.get("CHAOS_CLOCK_DIR"):
    install(Path(os.environ["CHAOS_CLOCK_DIR"]) / os.environ.get("OTEL_SERVICE_NAME", "unknown"))
