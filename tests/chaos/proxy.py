"""A TCP fault proxy between the services and what they talk to (PostgreSQL, the payment processor, a
service's replicas): the `network_delay` fault without `tc netem`, which this machine's kernel lacks (see the
README). It forwards bytes both ways and, while impaired, delays every chunk (latency plus jitter, order
kept) and cuts a connection now and then (what a lossy network ends in for TCP: a stalled stream the peer
gives up on, or a reset). With several upstreams it balances new connections over them, round robin, and
passes over one that refuses (a killed replica), so payments reach the survivor.

Each proxy of a chaos run is a process of its own (`ProxyProcess`, this file run as a script), told its
impairment through a small JSON file it re-reads: all the services' database traffic passes through it, and
in the test's event loop, beside the load driver, it starved both on a busy 2-core machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from paylinks_devstack.stack import free_port

CHUNK = 65536
CONTROL_POLL_SECONDS = 0.2
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Impairment:
    delay: float = 0.0  # seconds added to every chunk, each way
    jitter: float = 0.0  # plus up to this much, at random
    cut: float = 0.0  # probability that a chunk is the last of its connection (both ends closed)

    @property
    def none(self) -> bool:
        return self == Impairment()


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()  # a reset, no orderly goodbye: what a broken network leaves


class FaultProxy:
    def __init__(self, upstreams: list[tuple[str, int]], rng: random.Random | None = None) -> None:
        self.port = free_port()
        self.upstreams = list(upstreams)
        self.impairment = Impairment()
        self.cuts = 0
        self._rng = rng or random.Random()
        self._next = 0
        self._server: asyncio.Server | None = None
        self._open: set[_Connection] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._open):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    def impair(self, impairment: Impairment) -> None:
        self.impairment = impairment

    def heal(self) -> None:
        self.impairment = Impairment()

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        upstream_streams = await self._connect_upstream()
        if upstream_streams is None:
            client.transport.abort()  # nobody to talk to: refused, as the upstream itself would
            return
        upstream_reader, upstream = upstream_streams
        connection = _Connection(client, upstream)
        self._open.add(connection)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream, connection),
                self._pump(upstream_reader, client, connection),
            )
        finally:
            self._open.discard(connection)
            connection.close()

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next upstream that accepts, round robin; None if none does."""
        for _ in range(len(self.upstreams)):
            host, port = self.upstreams[self._next % len(self.upstreams)]
            self._next += 1
            with contextlib.suppress(OSError, TimeoutError):  # refused, or no answer to the handshake
                return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
        return None

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        """One direction: each chunk waits out the impairment of the moment it arrived, in order."""
        with contextlib.suppress(OSError):
            while chunk := await reader.read(CHUNK):
                impairment = self.impairment
                if not impairment.none:
                    await asyncio.sleep(impairment.delay + self._rng.uniform(0, impairment.jitter))
                    if self._rng.random() < impairment.cut:
                        self.cuts += 1
                        connection.close()
                        return
                writer.write(chunk)
                await writer.drain()
        connection.close()  # one side ended: so does the other


class ProxyProcess:
    """A FaultProxy in a process of its own; `impair`/`heal` take effect within CONTROL_POLL_SECONDS."""

    def __init__(self, upstreams: list[tuple[str, int]], control: Path) -> None:
        self.port = free_port()
        self.upstreams = upstreams
        self.control = control
        self._process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.heal()
        upstreams = [arg for host, port in self.upstreams for arg in ("--upstream", f"{host}:{port}")]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--port", str(self.port), "--control", str(self.control), *upstreams
        )
        async with asyncio.timeout(30):
            while not await _accepts(self.port):
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            await self._process.wait()

    def impair(self, impairment: Impairment) -> None:
        scratch = self.control.with_suffix(".tmp")
        scratch.write_text(json.dumps(asdict(impairment)))
        os.replace(scratch, self.control)  # never read half-written

    def heal(self) -> None:
        self.impair(Impairment())


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def _serve_forever(port: int, upstreams: list[tuple[str, int]], control: Path) -> None:
    proxy = FaultProxy(upstreams)
    proxy.port = port
    await proxy.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        proxy.impair(_impairment_in(control) or proxy.impairment)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONTROL_POLL_SECONDS)
    await proxy.stop()


def _impairment_in(control: Path) -> Impairment | None:
    """What the control file says (a few bytes, read at once); None if it cannot be read right now."""
    try:
        return Impairment(**json.loads(control.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description="the chaos suite's TCP fault proxy")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=Path, required=True, help="JSON file: the impairment of the moment")
    parser.add_argument("--upstream", action="append", required=True, help="host:port, several to balance")
    args = parser.parse_args()
    upstreams = [(host, int(port)) for host, port in (u.rsplit(":", 1) for u in args.upstream)]
    asyncio.run(_serve_forever(args.port, upstreams, args.control))


if __name__ == "__main__":
    main()
