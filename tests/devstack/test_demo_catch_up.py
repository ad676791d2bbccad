"""`make demo` first lets the services apply what earlier runs left on the topics (a test run's, a bench's),
so the story's first email does not wait behind them; it says so while it waits, and gives up on a backlog
nobody applies instead of waiting for ever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paylinks_devstack import demo
from paylinks_devstack.stack import CONSUMING, Stack, StackConfig, consumer_lag

pytestmark = pytest.mark.unit

METRICS = """\
# HELP paylinks_consumer_lag Records behind the partition's end
# TYPE paylinks_consumer_lag gauge
paylinks_consumer_lag{consumer="reconciliation",partition="0",topic="payment.events"} 120.0
paylinks_consumer_lag{consumer="reconciliation",partition="1",topic="payment.events"} 3.0
paylinks_consumer_lag{consumer="reconciliation",partition="0",topic="link.events"} 0.0
# HELP paylinks_consumer_progress_at Last time the consumer was caught up or moved
# TYPE paylinks_consumer_progress_at gauge
paylinks_consumer_progress_at{consumer="reconciliation"} 1.7e9
"""


def test_a_services_backlog_is_the_sum_of_its_lag_gauges() -> None:
    assert consumer_lag(METRICS) == 123


def test_a_service_whose_consumers_hold_no_partitions_yet_has_no_backlog_to_tell() -> None:
    assert consumer_lag("") is None
    progress_only = "\n".join(line for line in METRICS.splitlines() if "consumer_lag" not in line)
    assert consumer_lag(progress_only) is None


class Backlogs(Stack):
    """A stack whose services' backlogs are a script of readings, one per look."""

    def __init__(self, readings: list[dict[str, int | None]], home: Path) -> None:
        super().__init__(StackConfig(home=home))
        self.readings: Iterator[dict[str, int | None]] = iter(readings)
        self.looks = 0

    async def backlog(self) -> dict[str, int | None]:
        self.looks += 1
        return next(self.readings)


def every(lag: int | None) -> dict[str, int | None]:
    return dict.fromkeys(CONSUMING, lag)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The demo's waits take no time: each sleep moves a clock of the test's own."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(demo.asyncio, "sleep", sleep)
    monkeypatch.setattr(demo.time, "monotonic", lambda: now[0])
    return now


async def test_the_story_waits_until_every_consuming_service_has_applied_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    joining = every(0) | {"notifier": None}
    stack = Backlogs([joining, every(0) | {"notifier": 900}, every(0) | {"notifier": 40}, every(0)], tmp_path)
    await demo.catch_up(stack)
    assert stack.looks == 4
    assert "catching up on 900 records" in capsys.readouterr().out


async def test_nothing_is_said_when_nothing_was_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Backlogs([every(0)], tmp_path)
    await demo.catch_up(stack)
    assert stack.looks == 1
    assert capsys.readouterr().out == ""


async def test_a_long_catch_up_that_keeps_moving_is_waited_for(tmp_path: Path) -> None:
    readings = [every(lag) for lag in range(3 * int(demo.CATCH_UP_STALL), 0, -1)] + [every(0)]
    stack = Backlogs(readings, tmp_path)
    await demo.catch_up(stack)
    assert stack.looks == len(readings)


async def test_a_backlog_nobody_applies_stops_the_demo_with_where_to_look(
    tmp_path: Path, clock: list[float]
) -> None:
    stack = Backlogs([every(5)] * 1000, tmp_path)
    with pytest.raises(RuntimeError, match=r"none of 20 earlier records in 120 s; see .*logs"):
        await demo.catch_up(stack)
    assert demo.CATCH_UP_STALL < clock[0] <= demo.CATCH_UP_STALL + 2
