"""The machine and stack a run measured: numbers mean little without them."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg

REPO = Path(__file__).resolve().parent.parent
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # where deploy/local/kafka.sh's brokers listen


async def describe(database_url: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gib": round(_mem_total_kib() / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kafka": _kafka_version(),
        "postgres": await _postgres_version(database_url),
        "aiokafka": version("aiokafka"),
        "asyncpg": version("asyncpg"),
        "uvloop": version("uvloop"),  # the event loop of the services and of this run
        "commit": _git_commit(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # the machine is shared: others' work is noise
    }


def _cpu_model() -> str:
    text = Path("/proc/cpuinfo").read_text()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor()


def _mem_total_kib() -> int:
    match = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _kafka_version() -> str:
    """The broker's version from the jars deploy/local/kafka.sh runs in $PAYLINKS_HOME (a remote cluster:
    unknown)."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092").split(",")
    if any(server.rpartition(":")[0] not in LOCAL_HOSTS for server in servers):
        return "external cluster (version unknown)"
    home = Path(os.environ.get("PAYLINKS_HOME", REPO / ".local"))
    jars = sorted((home / "kafka" / "libs").glob("kafka-server-*.jar"))
    return jars[0].stem.removeprefix("kafka-server-") if jars else "unknown"


async def _postgres_version(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        settings = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'synchronous_commit')"
        )
    finally:
        await conn.close()
    found = {row["name"]: row["setting"] for row in settings}
    return f"{found['server_version']} (synchronous_commit={found['synchronous_commit']})"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - read-only, from PATH
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()
