"""The suite's own Kafka broker and PostgreSQL server, started by the project's scripts (deploy/local) on free
ports in a home of their own. The faults kill them; the shared broker and database of everybody else's
tests never notice."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition

from paylinks_devstack.stack import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "deploy" / "local"
SHARED_KAFKA_LIBS = REPO / ".local" / "kafka" / "libs"
# Variables that would make the scripts use another cluster instead of starting ours.
_FOREIGN = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "PGPORT_LOCAL",
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "KAFKA_BROKERS",
    "KAFKA_PORTS",
    "KAFKA_CONTROLLER_PORTS",
)


class InfraError(RuntimeError):
    pass


@dataclass
class LocalInfra:
    home: Path
    brokers: int = 1  # 3: a replicated cluster (kafka.sh: replication factor 3, min.insync.replicas 2)
    kafka_ports: list[int] = field(default_factory=list)
    controller_ports: list[int] = field(default_factory=list)
    pg_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.kafka_ports = self.kafka_ports or [free_port() for _ in range(self.brokers)]
        self.controller_ports = self.controller_ports or [free_port() for _ in range(self.brokers)]

    @property
    def kafka_port(self) -> int:
        return self.kafka_ports[0]

    @property
    def nodes(self) -> list[int]:
        return list(range(1, self.brokers + 1))

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.kafka_ports)

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/paylinks"

    async def up(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._share_kafka_jars()
        await asyncio.gather(self.start_kafka(), self.start_postgres())

    async def down(self) -> None:
        await asyncio.gather(
            self._script("kafka.sh", "down", "--purge"), self._script("postgres.sh", "down", "--purge")
        )

    async def start_kafka(self) -> None:
        await self._script("kafka.sh", "up")

    async def start_postgres(self) -> None:
        await self._script("postgres.sh", "up")

    async def set_read_only(self, read_only: bool) -> None:
        """Make every session's transactions read-only (as after a failover to a standby), or writable again:
        a server-wide setting, reloaded into the open sessions too."""
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute("SET default_transaction_read_only = off")  # this session may still write
            setting = (
                "SET default_transaction_read_only = on"
                if read_only
                else "RESET default_transaction_read_only"
            )
            await conn.execute(f"ALTER SYSTEM {setting}")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    async def kill_kafka(self) -> None:
        """SIGKILL the broker JVM: no controlled shutdown, unflushed log segments are recovered on start."""
        await self.kill_broker(1)

    async def kill_broker(self, node: int) -> None:
        """SIGKILL broker `node` (1..brokers); `start_kafka` starts whichever nodes are down."""
        pid = int((self._node_dir(node) / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        await _gone(pid)

    async def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node (kafka.sh's node number = broker id) that leads the partition now."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            async with asyncio.timeout(60):
                while True:
                    await producer.client.force_metadata_update()
                    leader = producer.client.cluster.leader_for_partition(TopicPartition(topic, partition))
                    if leader is not None and leader >= 0:
                        return int(leader)
                    await asyncio.sleep(0.5)
        finally:
            await producer.stop()

    def _node_dir(self, node: int) -> Path:
        return self.home / "kafka" if self.brokers == 1 else self.home / "kafka" / f"node-{node}"

    async def stop_postgres_immediately(self) -> None:
        """`pg_ctl stop -m immediate`: every backend is killed, the next start runs crash recovery."""
        await _run(self.stop_postgres_argv())

    def stop_postgres_argv(self) -> list[str]:
        data = self.home / "pg" / "data"
        return [
            "runuser",
            "-u",
            "postgres",
            "--",
            _pg_ctl(),
            "stop",
            "-D",
            str(data),
            "-m",
            "immediate",
            "-w",
        ]

    def _share_kafka_jars(self) -> None:
        """kafka.sh resolves jars into $PAYLINKS_HOME/kafka/libs; the repository's copy saves a Maven run."""
        libs = self.home / "kafka" / "libs"
        if (SHARED_KAFKA_LIBS / ".resolved").exists() and not libs.exists():
            libs.parent.mkdir(parents=True, exist_ok=True)
            libs.symlink_to(SHARED_KAFKA_LIBS)

    async def _script(self, name: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        env |= {
            "PAYLINKS_HOME": str(self.home),
            "KAFKA_BROKERS": str(self.brokers),
            "KAFKA_PORTS": ",".join(map(str, self.kafka_ports)),
            "KAFKA_CONTROLLER_PORTS": ",".join(map(str, self.controller_ports)),
            "PGPORT_LOCAL": str(self.pg_port),
            # Two SIGKILLed nodes of three (the controller quorum too) came back in more than kafka.sh's
            # default 180 s on this shared 2-core machine at a load average of 37.
            "KAFKA_READY_TIMEOUT": "600",
        }
        await _run(["bash", str(SCRIPTS / name), *args], env)


def _pg_ctl() -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return str(versions[-1]) if versions else shutil.which("pg_ctl") or "pg_ctl"


async def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise InfraError(
            f"{' '.join(argv)} failed ({process.returncode}):\n{output.decode(errors='replace')}"
        )


async def _gone(pid: int, timeout: float = 30.0) -> None:
    """Wait until the process is gone (a zombie nobody reaps counts as gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if _state(pid) in ("gone", "Z"):
            return
        await asyncio.sleep(0.05)
    raise InfraError(f"process {pid} still alive {timeout}s after SIGKILL")


def _state(pid: int) -> str:
    """The process state letter from /proc (Z: a zombie), or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "gone"
