"""How the two fault streams share the system: an infrastructure outage whose readiness watch needs every
service waits for a service that is mid-way through a fault of its own (the overlapping replica kill)."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest

from .faults import FaultInjector
from .report import ChaosReport

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


class RecordingInfra:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def stop_postgres_immediately(self) -> None:
        self.events.append("postgres stopped")

    async def start_postgres(self) -> None:
        self.events.append("postgres started")


def injector_for(events: list[str]) -> FaultInjector:
    system: Any = SimpleNamespace(infra=RecordingInfra(events))
    injector = FaultInjector(system, ChaosReport(), random.Random(1))

    async def answered(what: str, status: int, services: tuple[str, ...] = ()) -> None:
        events.append(f"watched: {what}")

    async def stay_down() -> None:
        await asyncio.sleep(0.05)

    injector._watch = answered  # type: ignore[method-assign]
    injector._stay_down = stay_down  # type: ignore[method-assign]
    return injector


async def test_a_postgres_outage_waits_until_a_restarting_service_is_back() -> None:
    events: list[str] = []
    injector = injector_for(events)
    async with injector._alone("reconciliation-service"):  # its replica kill under way
        outage = asyncio.create_task(injector.restart_postgres())
        await asyncio.sleep(0.1)
        assert events == []  # not stopped under a service that could not answer its watch
        events.append("reconciliation-service ready again")
    await outage
    assert events == [
        "reconciliation-service ready again",
        "postgres stopped",
        "watched: postgres down",
        "postgres started",
        "watched: postgres back",
    ]


async def test_a_service_fault_waits_for_the_outage_to_end() -> None:
    events: list[str] = []
    injector = injector_for(events)
    outage = asyncio.create_task(injector.restart_postgres())
    await asyncio.sleep(0)  # the outage holds every service first

    async def replica_kill() -> None:
        async with injector._alone("billing-service"):
            events.append("billing-service killed")

    await asyncio.gather(outage, replica_kill())
    assert events.index("billing-service killed") > events.index("watched: postgres back")
