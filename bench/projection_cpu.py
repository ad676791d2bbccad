"""CPU per projected event, less sensitive to a loaded machine than figure 1's wall time.

reconciliation-service's projection consumer (create_runtime, as figure 1) catches up on N events of a
private topic; printed per event: this process's CPU (the service, plus this script's polling every 0.05 s,
so the wall time is known to 0.05 s)
and the CPU of every process of the local Postgres instance ($PAYLINKS_HOME/pg/data: the deploy/local one,
nothing else uses it). Not a figure: a tool to compare two versions of the code in one sitting, e.g.

    PYTHONPATH=.:<other tree>/libs/events/src:... deploy/local/with-infra.sh \
        .venv/bin/python -m bench.projection_cpu LABEL EVENTS ROUNDS
"""

import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

import uvloop
from aiokafka.admin import AIOKafkaAdminClient

from bench.context import BenchContext
from bench.figures._projection import check_read_model, publish
from bench.workload import payment_pairs
from reconciliation_service.app import create_runtime
from reconciliation_service.config import Settings
from reconciliation_service.consumer import CONSUMER_NAME

TICK = os.sysconf("SC_CLK_TCK")
PGDATA = Path(os.environ["PAYLINKS_HOME"]) / "pg" / "data"


def pg_cpu() -> float:
    master = int((PGDATA / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0.0
    for pid in [master, *map(int, children)]:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if pid == master else 0)
    return total / TICK


def me_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def one(ctx: BenchContext, topic: str, events: int) -> tuple[float, float, float]:
    async with ctx.schema("cpu") as schema:
        settings = Settings(
            kafka_bootstrap_servers=ctx.bootstrap_servers,
            database_url=ctx.database_url,
            db_schema=schema,
            consumer_group_prefix=f"cpu-{uuid.uuid4().hex[:8]}-",
            log_level="WARNING",
        )
        runtime = create_runtime(settings, [topic])
        admin = AIOKafkaAdminClient(bootstrap_servers=ctx.bootstrap_servers)
        await admin.start()
        await runtime.start()
        try:
            c0, p0, w0 = me_cpu(), pg_cpu(), time.perf_counter()
            group = settings.consumer_group_prefix + CONSUMER_NAME
            while (
                sum(max(0, o.offset) for o in (await admin.list_consumer_group_offsets(group)).values())
                < events
            ):
                await asyncio.sleep(0.05)
            c1, p1, w1 = me_cpu(), pg_cpu(), time.perf_counter()
            await check_read_model(runtime.pool, events // 2)
        finally:
            await runtime.stop()
            await admin.close()
    return (c1 - c0) / events * 1e6, (p1 - p0) / events * 1e6, events / (w1 - w0)


async def main() -> None:
    label, events = sys.argv[1], int(sys.argv[2])
    ctx = BenchContext(quick=False, out_dir=Path.cwd())
    async with ctx.topics(1) as (topic,):
        await publish(ctx, payment_pairs(topic, events // 2))
        for r in range(int(sys.argv[3])):
            py, pg, rate = await one(ctx, topic, events)
            load = os.getloadavg()[0]
            print(
                f"{label} round {r}: python {py:.1f} us/event, postgres {pg:.1f} us/event,"
                f" wall {rate:,.0f} events/s, load {load:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    uvloop.run(main())
