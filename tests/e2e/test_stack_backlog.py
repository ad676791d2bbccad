"""The stack reads its services' backlogs from their consumer-lag gauges (what `make demo` waits on before
its story): every consuming service reports one, and a stack that applied everything reads zero."""

from __future__ import annotations

import pytest

from paylinks_devstack.stack import CONSUMING, Stack
from paylinks_runtime.testing import eventually

pytestmark = pytest.mark.timeout(120)


async def test_every_consuming_service_tells_its_backlog_and_a_caught_up_stack_has_none(stack: Stack) -> None:
    async def caught_up() -> dict[str, int | None] | None:
        backlog = await stack.backlog()
        return backlog if all(lag == 0 for lag in backlog.values()) else None

    backlog = await eventually(caught_up, timeout=60, interval=0.5)
    assert backlog == dict.fromkeys(CONSUMING, 0)
