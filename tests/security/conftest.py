"""Hostile input (issue #9): one run of the four services for the whole folder, on the real broker, database
and an SMTP sink. Every test works for firms of its own; the last module scans what the run left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from .firm import Firm
from .system import System, running_system

HERE = Path(__file__).parent


@pytest.hookimpl(trylast=True)  # after any plugin that reorders
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_the_run` scan what the whole folder left behind: they run after every other test
    of this folder (and still inside it, so the package's running system is the one they scan)."""
    last = [item for item in items if item.get_closest_marker("after_the_run")]
    if not last:
        return
    rest = [item for item in items if not item.get_closest_marker("after_the_run")]
    ours = [k for k, item in enumerate(rest) if HERE in item.path.parents]
    at = ours[-1] + 1 if ours else len(rest)
    items[:] = [*rest[:at], *last, *rest[at:]]


@pytest.fixture(scope="package")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running_system(tmp_path_factory.mktemp("security-mail")) as running:
        yield running


@pytest.fixture
async def new_firm(system: System, producer: AIOKafkaProducer) -> AsyncIterator[Callable[[], Firm]]:
    firms: list[Firm] = []

    def make() -> Firm:
        firms.append(Firm(system, producer))
        return firms[-1]

    yield make
    for firm in firms:
        await firm.close()


@pytest.fixture
def firm(new_firm: Callable[[], Firm]) -> Firm:
    return new_firm()
