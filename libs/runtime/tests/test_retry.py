"""The one retry helper: the schedule it waits, when it gives up, what it never retries. Its sleeps are
recorded instead of slept, so nothing here depends on time."""

from __future__ import annotations

import asyncio
import itertools
import math
from types import SimpleNamespace

import pytest

from paylinks_runtime import retry as retry_module
from paylinks_runtime.retry import NO_WAIT, Backoff, retry

pytestmark = pytest.mark.unit


class Flaky:
    """Fails with the given errors in turn, then answers "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry_module, "asyncio", SimpleNamespace(sleep=record))
    return waits


def test_the_schedule_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.1, cap=1.0)
    assert [backoff.delay(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert list(itertools.islice(backoff.delays(), 4)) == pytest.approx([0.1, 0.2, 0.4, 0.8])


def test_a_schedule_retried_for_weeks_stays_at_its_cap() -> None:
    assert Backoff(30.0, cap=3600.0).delay(5_000_000) == 3600.0
    assert Backoff(30.0).delay(5_000_000) == math.inf
    assert NO_WAIT.delay(5_000_000) == 0.0


@pytest.mark.parametrize("bad", [{"first": -1.0}, {"first": 1.0, "cap": -1.0}, {"first": 1.0, "factor": 0.5}])
def test_a_schedule_that_shrinks_or_goes_negative_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="not a backoff schedule"):
        Backoff(**bad)


def test_no_delay_comes_before_a_failure() -> None:
    with pytest.raises(ValueError, match="at least one failure"):
        Backoff(0.1).delay(0)


async def test_it_retries_until_the_operation_succeeds(slept: list[float]) -> None:
    flaky = Flaky(OSError("down"), OSError("down"))
    told: list[tuple[str, float]] = []
    result = await retry(
        flaky, backoff=Backoff(0.05), on_retry=lambda exc, wait: told.append((str(exc), wait))
    )
    assert (result, flaky.calls) == ("done", 3)
    assert slept == pytest.approx([0.05, 0.1])
    assert told == [("down", pytest.approx(0.05)), ("down", pytest.approx(0.1))]


async def test_the_last_attempts_error_is_raised_as_it_is(slept: list[float]) -> None:
    last = OSError("third")
    flaky = Flaky(OSError("first"), OSError("second"), last)
    with pytest.raises(OSError, match="third") as raised:
        await retry(flaky, backoff=Backoff(0.01), attempts=3)
    assert raised.value is last
    assert flaky.calls == 3
    assert len(slept) == 2  # no wait after the last attempt


async def test_an_error_not_worth_retrying_is_raised_at_once(slept: list[float]) -> None:
    flaky = Flaky(OSError("down"), KeyError("a bug"))
    with pytest.raises(KeyError):
        await retry(flaky, backoff=Backoff(0.01), retry_if=lambda exc: isinstance(exc, OSError))
    assert flaky.calls == 2
    assert len(slept) == 1


async def test_cancellation_is_never_retried(slept: list[float]) -> None:
    flaky = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry(flaky, backoff=Backoff(0.01))
    assert (flaky.calls, slept) == (1, [])


async def test_without_a_limit_it_keeps_going(slept: list[float]) -> None:
    flaky = Flaky(*(OSError(str(n)) for n in range(50)))
    assert await retry(flaky, backoff=Backoff(0.01, cap=0.5)) == "done"
    assert flaky.calls == 51
    assert max(slept) == 0.5


async def test_a_limit_below_one_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        await retry(Flaky(), backoff=NO_WAIT, attempts=0)
