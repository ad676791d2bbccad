"""The read-model consumer: the runtime's inbox consumer with a batch handler, so each batch of fresh
events is applied with one upsert per table instead of one event at a time."""

from __future__ import annotations

from collections.abc import Sequence

from paylinks_events import Envelope
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from . import projection_store
from .projection import PROJECTION_TOPICS

CONSUMER_NAME = "reconciliation-service"


async def project(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Apply a batch of events to the live read model in the consumer's transaction."""
    await projection_store.hold_read_model_shared(uow.conn)  # a rebuild's switch-over waits for us
    await projection_store.apply(uow.conn, envelopes)


def projection_consumer(topics: Sequence[str] = PROJECTION_TOPICS) -> ConsumerSpec:
    """The read-model consumer; other topics than the contract's are for benchmarks on private topics."""
    return ConsumerSpec(name=CONSUMER_NAME, topics=tuple(topics), batch_handler=project)
