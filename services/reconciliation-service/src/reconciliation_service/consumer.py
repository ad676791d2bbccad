"""The read-model consumer: the runtime's consumer with a batch handler, so each batch of fresh events is
applied with one upsert per table instead of one event at a time, and the consumer's offsets stored in the
same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog
from prometheus_client import Counter

from paylinks_events import Envelope, FeeCharged
from paylinks_runtime.inbox_consumer import BatchHandler
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from . import money_queries, projection_store
from .projection import PROJECTION_TOPICS, ProjectionWrites, plan_into

CONSUMER_NAME = "reconciliation-service"
log = structlog.get_logger(__name__)

FEES_ON_TRUST = Counter(
    "paylinks_fees_on_trust_total",
    "FeeCharged events naming a trust account: each one a bug (fees come from operating, ABA Rule 1.15)",
)


@dataclass(frozen=True)
class PlannedBatch:
    """A batch's rows, and the fees among its events (to flag the ones charged to a trust account)."""

    writes: ProjectionWrites = field(default_factory=ProjectionWrites)
    fees: list[tuple[str, str]] = field(default_factory=list)


def plan_batch(planned: PlannedBatch, envelopes: list[Envelope]) -> None:
    """No I/O: run by the consumer as the batch is decoded, a slice at a time, while the batch before it is
    written."""
    plan_into(planned.writes, envelopes)
    planned.fees.extend(fees_of(envelopes))


async def write_batch(uow: UnitOfWork, planned: PlannedBatch) -> None:
    """Write a planned batch into the live read model in the consumer's transaction."""
    await projection_store.hold_read_model_shared(uow.conn)  # a rebuild's switch-over waits for us
    await projection_store.write(uow.conn, planned.writes)
    await flag_fees_on_trust(uow.conn, planned.fees)


PROJECT = BatchHandler(write_batch, PlannedBatch, plan_batch)


def fees_of(envelopes: list[Envelope]) -> list[tuple[str, str]]:
    """(firm, fee) of the FeeCharged events among these."""
    return [(e.event.firm_id, e.event.fee_id) for e in envelopes if isinstance(e.event, FeeCharged)]


async def flag_fees_on_trust(conn: asyncpg.Connection, fees: list[tuple[str, str]]) -> list[asyncpg.Record]:
    """Surface the fees of these (firm, fee) charged to a trust account, in the log and the metric (the
    trust reconciliation counts them too, whatever order the account and the fee arrive in; this catches the
    ones whose account is known by the time the fee is applied)."""
    flagged = await money_queries.fees_on_trust(conn, fees) if fees else []
    for fee in flagged:
        FEES_ON_TRUST.inc()
        log.error("fee charged to a trust account", **dict(fee))
    return flagged


def projection_consumer(topics: Sequence[str] = PROJECTION_TOPICS) -> ConsumerSpec:
    """The read-model consumer; other topics than the contract's are for benchmarks on private topics."""
    # Every write of the projection is an upsert or an insert keyed by what it records (README,
    # "Convergence"), so its offsets live in its own transaction: no inbox row per event.
    # Its writes are a few long statements for the whole batch (projection_store.write: the new rows'
    # copies, one merge of the rest), during which the next batch is decoded and planned.
    return ConsumerSpec(
        name=CONSUMER_NAME,
        topics=tuple(topics),
        batch_handler=PROJECT,
        offsets_in_transaction=True,
        decode_when_database_busy=True,
    )
