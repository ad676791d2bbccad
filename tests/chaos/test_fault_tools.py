"""The tools the network_delay and clock_skew faults are made of, on their own: the TCP fault proxy
(forwarding, order under jitter, cutting, passing over a dead upstream) and the clock hook (a service
process's wall clock jumps when its file says so; its monotonic clock does not)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paylinks_devstack.stack import free_port

from .proxy import FaultProxy, Impairment, ProxyProcess
from .system import CLOCK, SERVICE_PYTHONPATH, write_clock_offset

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@contextlib.asynccontextmanager
async def proxy_to(*ports: int) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy([("127.0.0.1", port) for port in ports], random.Random(7))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


async def roundtrip(proxy: FaultProxy, messages: list[bytes]) -> bytes:
    return await roundtrip_to(proxy.port, messages)


async def roundtrip_to(port: int, messages: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for message in messages:
            writer.write(message)
            await writer.drain()
        expected = sum(len(m) for m in messages)
        received = b""
        async with asyncio.timeout(20):
            while len(received) < expected and (chunk := await reader.read(4096)):
                received += chunk
        return received
    except ConnectionResetError:  # cut: the proxy aborts (a reset) as a broken network would
        return b""
    finally:
        writer.close()


async def test_the_proxy_forwards_both_ways_and_keeps_the_order_under_jitter() -> None:
    async with echo_server() as port, proxy_to(port) as proxy:
        proxy.impair(Impairment(delay=0.001, jitter=0.01))
        messages = [f"{i:04d};".encode() for i in range(200)]
        assert await roundtrip(proxy, messages) == b"".join(messages)
        assert proxy.cuts == 0


async def test_a_cut_connection_is_closed_at_both_ends() -> None:
    async with echo_server() as port, proxy_to(port) as proxy:
        proxy.impair(Impairment(cut=1.0))
        received = await roundtrip(proxy, [b"lost"])
        assert received == b""
        assert proxy.cuts == 1
        proxy.heal()
        assert await roundtrip(proxy, [b"healed"]) == b"healed"


async def test_new_connections_pass_over_an_upstream_that_refuses() -> None:
    dead = free_port()  # nothing listens there: a killed replica
    async with echo_server() as port, proxy_to(dead, port) as proxy:
        answers = [await roundtrip(proxy, [f"payment {i}".encode()]) for i in range(4)]
        assert answers == [f"payment {i}".encode() for i in range(4)]


async def test_with_no_upstream_at_all_the_client_is_refused() -> None:
    async with proxy_to(free_port()) as proxy:
        assert await roundtrip(proxy, [b"anyone?"]) == b""


CLOCK_PROBE = """
import json, sys, time
from datetime import UTC, datetime
for _ in sys.stdin:
    print(json.dumps([time.time(), datetime.now(UTC).timestamp(), time.monotonic()]), flush=True)
"""


async def test_the_clock_hook_jumps_the_wall_clock_of_one_service_and_not_its_monotonic_clock(
    tmp_path: Path,
) -> None:
    write_clock_offset(tmp_path / "billing-service", 3600)
    env = os.environ | {
        "PYTHONPATH": SERVICE_PYTHONPATH,
        "CHAOS_CLOCK_DIR": str(tmp_path),
        "OTEL_SERVICE_NAME": "billing-service",
    }
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLOCK_PROBE,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert probe.stdin is not None
    assert probe.stdout is not None

    async def skew() -> tuple[float, float, float]:
        assert probe.stdin is not None
        assert probe.stdout is not None
        probe.stdin.write(b"\n")
        wall, now, monotonic = json.loads(await probe.stdout.readline())
        return wall - time.time(), now - time.time(), monotonic - time.monotonic()

    try:
        wall, now, monotonic = await skew()
        assert 3500 < wall < 3700
        assert 3500 < now < 3700
        assert abs(monotonic) < 60  # the same monotonic clock as ours

        write_clock_offset(tmp_path / "billing-service", -600)  # a jump back, mid-run
        async with asyncio.timeout(20):
            while (wall := (await skew())[0]) > 0:
                await asyncio.sleep(0.1)
        assert -700 < wall < -500
    finally:
        probe.stdin.close()
        await probe.wait()


async def test_a_proxy_process_follows_its_control_file(tmp_path: Path) -> None:
    async with echo_server() as port:
        proxy = ProxyProcess([("127.0.0.1", port)], tmp_path / "link.json")
        await proxy.start()
        try:
            assert await roundtrip_to(proxy.port, [b"through"]) == b"through"
            proxy.impair(Impairment(cut=1.0))
            async with asyncio.timeout(20):
                while await roundtrip_to(proxy.port, [b"cut?"]) != b"":
                    await asyncio.sleep(0.05)
            proxy.heal()
            async with asyncio.timeout(20):
                while await roundtrip_to(proxy.port, [b"healed"]) != b"healed":
                    await asyncio.sleep(0.05)
        finally:
            await proxy.stop()


def test_the_clock_hook_never_reads_a_skew_being_written_as_the_true_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHAOS_CLOCK_DIR", raising=False)  # loaded here, the hook installs nothing
    spec = importlib.util.spec_from_file_location("chaos_clock_under_test", CLOCK / "chaos_clock.py")
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    clock = tmp_path / "billing-service"
    assert hook._read_offset(clock, 120.0) == 0.0  # no file: the true time
    clock.write_text("")  # what a reader sees of a file written in place, between truncation and write
    assert hook._read_offset(clock, 120.0) == 120.0
    write_clock_offset(clock, -600)  # replaced whole: nothing half-written to see
    assert hook._read_offset(clock, 120.0) == -600.0
    assert [p.name for p in tmp_path.iterdir()] == ["billing-service"]
