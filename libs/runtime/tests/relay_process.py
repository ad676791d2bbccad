"""Runs one outbox relay against a schema until killed: the process the SIGKILL test kills."""

from __future__ import annotations

import asyncio
import sys

from paylinks_runtime.db import create_pool
from paylinks_runtime.kafka import make_producer
from paylinks_runtime.outbox_relay import OutboxRelay
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL
from paylinks_runtime.unit_of_work import OutboxSignal


async def main(schema: str, batch_size: int, lease_seconds: float) -> None:
    pool = await create_pool(DATABASE_URL, schema)
    producer = make_producer(BOOTSTRAP, "relay-under-test")
    await producer.start()
    relay = OutboxRelay(
        pool,
        producer,
        service="relay-test",
        signal=OutboxSignal(),
        batch_size=batch_size,
        lease_seconds=lease_seconds,
    )
    print("relay running", flush=True)
    await relay.run()


if __name__ == "__main__":
    lease = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), lease))
