"""A consumer meeting an unavailable database (read-only after a failover, connections terminated by the
server) waits and retries: every valid event is applied once the database is back, none is dead-lettered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from paylinks_runtime.db import create_pool, database_unavailable, migrate
from paylinks_runtime.inbox_consumer import worth_retrying
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, drop_schema, eventually, unique

from .test_inbox_consumer import consuming, contact, effect_count, send


class ReadOnlySwitch:
    """Makes a pool's sessions read-only, as a standby or a primary fenced in a failover is: each write
    then fails with `read_only_sql_transaction` (SQLSTATE 25006). Set on every acquire: the pool's reset
    on release (RESET ALL) undoes it."""

    def __init__(self) -> None:
        self.read_only = False

    async def setup(self, conn: asyncpg.Connection) -> None:
        if self.read_only:
            await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")


@pytest.fixture
async def switch() -> ReadOnlySwitch:
    return ReadOnlySwitch()


@pytest.fixture
async def switchable_pool(switch: ReadOnlySwitch) -> AsyncIterator[asyncpg.Pool]:
    schema = unique("test_outage")
    setup = await create_pool(DATABASE_URL, schema)
    await migrate(setup)
    await setup.execute("CREATE TABLE effects (event_id text, contact_id text, name text)")
    await setup.close()
    pool = await asyncpg.create_pool(
        DATABASE_URL,
        min_size=1,
        max_size=4,
        setup=switch.setup,
        server_settings={"search_path": schema, "application_name": schema},
    )
    yield pool
    await pool.close()
    await drop_schema(schema)


async def dlq_size(topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await consumer.start()
    try:
        partitions = [TopicPartition(f"{topic}.dlq", p) for p in range(3)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


def retries(consumer: str) -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "paylinks_consumer_batch_retries"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("consumer") == consumer
    )


async def test_a_read_only_database_pauses_the_consumer_and_dead_letters_nothing(
    switchable_pool: asyncpg.Pool,
    switch: ReadOnlySwitch,
    producer,  # type: ignore[no-untyped-def]
    topic: str,
) -> None:
    switch.read_only = True
    envelopes = [contact("f", f"valid-{i}") for i in range(5)]
    for envelope in envelopes:
        await send(producer, topic, envelope)
    async with consuming(switchable_pool, producer, [topic]) as consumer:
        await eventually(lambda: retries(consumer.name) >= 3, timeout=30)  # it met the read-only database
        assert await dlq_size(topic) == 0
        switch.read_only = False  # the failover completes: a writable primary again
        for envelope in envelopes:
            await eventually(lambda e=envelope: effect_count(switchable_pool, e.id), timeout=30)
    assert await effect_count(switchable_pool) == 5
    assert await dlq_size(topic) == 0


async def test_connections_terminated_by_the_server_are_waited_out(
    switchable_pool: asyncpg.Pool,
    producer,  # type: ignore[no-untyped-def]
    topic: str,
) -> None:
    envelopes = [contact("f", f"valid-{i}") for i in range(20)]
    schema = await switchable_pool.fetchval("SELECT current_setting('application_name')")
    async with consuming(switchable_pool, producer, [topic]):
        for envelope in envelopes:
            await send(producer, topic, envelope)
            # an administrator (or a failover) ends every session of the consumer's pool, again and again
            await switchable_pool.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND pid <> pg_backend_pid()",
                schema,
            )
        for envelope in envelopes:
            await eventually(lambda e=envelope: effect_count(switchable_pool, e.id), timeout=30)
    assert await effect_count(switchable_pool) == 20
    assert await dlq_size(topic) == 0


@pytest.mark.unit
@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.DiskFullError("could not extend file: No space left on device"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is in recovery mode"),
        asyncpg.OutOfMemoryError("out of memory"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionRefusedError(111, "refused"),
        ConnectionResetError(104, "reset by peer"),
    ],
)
def test_an_unavailable_database_is_retried_not_blamed_on_the_record(error: Exception) -> None:
    assert database_unavailable(error)
    assert worth_retrying(error)


@pytest.mark.unit
@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.NotNullViolationError("null value"),
        asyncpg.UndefinedTableError("no such table"),
        asyncpg.InvalidTextRepresentationError("invalid input syntax"),
        ValueError("this handler cannot apply that event"),
    ],
)
def test_a_record_bad_in_itself_is_not_retried(error: Exception) -> None:
    assert not worth_retrying(error)
