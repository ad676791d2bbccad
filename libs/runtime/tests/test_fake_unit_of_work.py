"""The in-memory unit of work keeps the promises of the Postgres one that command handlers rely on: versions
per stream, the outbox in order, ConcurrencyError on a stale aggregate, nothing kept of a failed command."""

from __future__ import annotations

import pytest

from paylinks_events import ContactCreated, MatterOpened
from paylinks_runtime.aggregate import Aggregate, DomainError
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

pytestmark = pytest.mark.unit


class Matter(Aggregate):
    stream_type = "matter"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.names: list[str] = []

    def when_MatterOpened(self, event: MatterOpened) -> None:
        self.names.append(event.name)

    def open(self, name: str) -> None:
        if self.exists:
            raise DomainError("already_open", "matter already open")
        self.record(MatterOpened(firm_id="f1", matter_id=self.id, contact_id="c1", name=name))


def test_the_fakes_are_what_command_handlers_are_typed_against() -> None:
    uow: AbstractUnitOfWork[None] = FakeUnitOfWork(None)
    writer: AbstractWriter[None] = FakeWriter(FakeUnitOfWork(None))
    assert uow.tables is None
    assert isinstance(writer, FakeWriter)


async def test_saved_events_get_versions_and_reach_the_outbox_in_order() -> None:
    uow = FakeUnitOfWork(None)
    matter = await uow.load(Matter, "m-1")
    matter.open("a")
    await uow.save(matter)
    contact = ContactCreated(firm_id="f1", contact_id="c1", name="Ann")
    await uow.publish(contact)

    assert (matter.version, uow.version("m-1")) == (1, 1)
    assert (await uow.load(Matter, "m-1")).names == ["a"]
    assert [type(e) for e in uow.published()] == [MatterOpened, ContactCreated]
    assert {e.source for e in uow.outbox} == {"/test"}


async def test_saving_a_stale_aggregate_raises_the_concurrency_error_and_keeps_nothing() -> None:
    uow = FakeUnitOfWork(None)
    first, second = await uow.load(Matter, "m-1"), await uow.load(Matter, "m-1")
    first.open("first")
    await uow.save(first)
    second.open("second")
    with pytest.raises(ConcurrencyError):
        await uow.save(second)
    assert [e.name for e in uow.events("m-1")] == ["first"]  # type: ignore[attr-defined]
    assert len(uow.outbox) == 1


async def test_the_writer_decides_again_after_a_conflict() -> None:
    writer = FakeWriter(FakeUnitOfWork(None))
    stale = await writer.uow.load(Matter, "m-1")  # loaded before another writer committed
    other = await writer.uow.load(Matter, "m-1")
    other.open("other writer")
    await writer.uow.save(other)

    async def open_matter(uow: AbstractUnitOfWork[None]) -> str:
        matter = stale if writer.attempts_made == 1 else await uow.load(Matter, "m-1")
        if not matter.exists:
            matter.open("ours")
            await uow.save(matter)
        return matter.names[-1]

    assert await writer.execute(open_matter) == "other writer"
    assert writer.attempts_made == 2
    assert [e.name for e in writer.uow.events("m-1")] == ["other writer"]  # type: ignore[attr-defined]


async def test_a_failed_command_leaves_no_event_behind() -> None:
    writer = FakeWriter(FakeUnitOfWork(None))

    async def open_then_fail(uow: AbstractUnitOfWork[None]) -> None:
        matter = await uow.load(Matter, "m-1")
        matter.open("a")
        await uow.save(matter)
        raise DomainError("refused", "refused after saving")

    with pytest.raises(DomainError):
        await writer.execute(open_then_fail)
    assert writer.uow.streams == {}
    assert writer.uow.outbox == []
    assert writer.attempts_made == 1


async def test_conflicts_stop_after_the_last_attempt() -> None:
    writer = FakeWriter(FakeUnitOfWork(None))

    async def always_conflicts(uow: AbstractUnitOfWork[None]) -> None:
        raise ConcurrencyError("always")

    with pytest.raises(ConcurrencyError):
        await writer.execute(always_conflicts, attempts=3)
    assert writer.attempts_made == 3
