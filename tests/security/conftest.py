"""Hostile input (issue #9): one run of the four services for the whole folder, on the real broker, database
and an SMTP sink. Every test works for firms of its own; the last module scans what the run left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import AIOKafkaProducer

from .firm import Firm
from .system import System, running_system


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
