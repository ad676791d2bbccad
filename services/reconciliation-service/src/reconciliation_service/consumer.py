"""The read-model consumer: the runtime's consumer with a batch handler, so each batch of fresh events is
applied with one upsert per table instead of one event at a time, and the consumer's offsets stored in the
same transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import structlog
from prometheus_client import Counter

from paylinks_events import Envelope, FeeCharged
from paylinks_runtime.service import ConsumerSpec
from paylinks_runtime.unit_of_work import UnitOfWork

from . import money_queries, projection_store
from .projection import PROJECTION_TOPICS

CONSUMER_NAME = "reconciliation-service"
log = structlog.get_logger(__name__)

FEES_ON_TRUST = Counter(
    "paylinks_fees_on_trust_total",
    "FeeCharged events naming a trust account: each one a bug (fees come from operating, ABA Rule 1.15)",
)


async def project(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Apply a batch of events to the live read model in the consumer's transaction."""
    await projection_store.hold_read_model_shared(uow.conn)  # a rebuild's switch-over waits for us
    await projection_store.apply(uow.conn, envelopes)
    await flag_fees_on_trust(uow.conn, envelopes)


async def flag_fees_on_trust(conn: asyncpg.Connection, envelopes: list[Envelope]) -> list[asyncpg.Record]:
    """Surface the fees of these events charged to a trust account, in the log and the metric (the trust
    reconciliation counts them too, whatever order the account and the fee arrive in; this catches the ones
    whose account is known by the time the fee is applied)."""
    fees = [(e.event.firm_id, e.event.fee_id) for e in envelopes if isinstance(e.event, FeeCharged)]
    flagged = await money_queries.fees_on_trust(conn, fees) if fees else []
    for fee in flagged:
        FEES_ON_TRUST.inc()
        log.error("fee charged to a trust account", **dict(fee))
    return flagged


def projection_consumer(topics: Sequence[str] = PROJECTION_TOPICS) -> ConsumerSpec:
    """The read-model consumer; other topics than the contract's are for benchmarks on private topics."""
    # Every write of the projection is an upsert or an insert keyed by what it records (README,
    # "Convergence"), so its offsets live in its own transaction: no inbox row per event.
    # Its writes end in one merge of the whole batch (projection_store.write), during which the next
    # batch is decoded.
    return ConsumerSpec(
        name=CONSUMER_NAME,
        topics=tuple(topics),
        batch_handler=project,
        offsets_in_transaction=True,
        decode_when_database_busy=True,
    )
