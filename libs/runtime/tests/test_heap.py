"""The collector's hand-off at start-up: live objects set aside, start-up's garbage not kept forever, and
the young generation sized for a batch."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from paylinks_events import Envelope
from paylinks_runtime.heap import THRESHOLDS, freeze_start_up_objects, size_generations_for_batches
from paylinks_runtime.inbox_consumer import each_batch
from paylinks_runtime.service import ConsumerSpec, ServiceRuntime
from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, drop_schema, unique
from paylinks_runtime.unit_of_work import UnitOfWork

CPYTHON_THRESHOLDS = (700, 10, 10)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()  # as a fresh process: a runtime started by an earlier test froze this one's heap
    gc.set_threshold(*CPYTHON_THRESHOLDS)
    yield
    gc.unfreeze()  # the test process goes on collecting as before
    gc.set_threshold(*thresholds)


def test_objects_alive_at_start_up_are_no_longer_walked(thawed: None) -> None:
    kept = [Node()]
    freeze_start_up_objects()
    assert not any(o is kept for o in gc.get_objects())
    assert gc.get_freeze_count() > 0
    later = [Node()]
    assert any(o is later for o in gc.get_objects())  # what comes after is collected as before


def test_garbage_cycles_of_start_up_are_collected_not_frozen(thawed: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b  # a cycle: only the collector frees it
    freeze_start_up_objects()
    assert gone() is None


def test_only_the_first_start_of_a_process_freezes(thawed: None) -> None:
    freeze_start_up_objects()
    frozen = gc.get_freeze_count()
    later = [Node() for _ in range(100)]
    freeze_start_up_objects()
    assert gc.get_freeze_count() == frozen
    assert any(o is later for o in gc.get_objects())


def test_a_batch_of_new_objects_sets_off_no_young_collection(thawed: None) -> None:
    size_generations_for_batches()
    gc.collect()
    young = gc.get_stats()[0]["collections"]
    batch = [Node() for _ in range(THRESHOLDS[0] // 2)]  # a batch's worth (some 40,000) and more
    assert gc.get_stats()[0]["collections"] == young
    assert gc.isenabled()
    del batch


def test_cycles_made_after_start_up_are_still_collected_by_the_collector(thawed: None) -> None:
    size_generations_for_batches()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    kept = [Node() for _ in range(THRESHOLDS[0] + 1)]  # enough new objects to set off a young collection
    assert gone() is None
    del kept


async def _start_and_stop(consumers: list[ConsumerSpec]) -> tuple[int, tuple[int, int, int]]:
    """The freeze count and the collector's thresholds of a service once started."""
    schema = unique("test_heap")
    settings = ServiceSettings(kafka_bootstrap_servers=BOOTSTRAP, database_url=DATABASE_URL, db_schema=schema)
    runtime = ServiceRuntime(settings, consumers=consumers)
    await runtime.start()
    try:
        return gc.get_freeze_count(), gc.get_threshold()
    finally:
        await runtime.stop()
        await drop_schema(schema)


async def _nothing(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    pass


async def test_a_started_service_has_frozen_start_up_and_kept_the_default_thresholds(thawed: None) -> None:
    frozen, thresholds = await _start_and_stop([])
    assert frozen > 0
    assert thresholds == CPYTHON_THRESHOLDS


async def test_a_service_that_consumes_in_batches_has_sized_its_young_generation(
    thawed: None, topic: str
) -> None:
    batches = ConsumerSpec(name=unique("heap"), topics=(topic,), batch_handler=each_batch(_nothing))
    frozen, thresholds = await _start_and_stop([batches])
    assert frozen > 0
    assert thresholds == THRESHOLDS
