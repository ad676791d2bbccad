"""A TCP fault proxy between the services and what they talk to (PostgreSQL, the payment processor, a
service's replicas): the `network_delay` fault without `tc netem`, which this machine's kernel lacks (see the
README). It forwards bytes both ways and, while impaired, delays every chunk (latency plus jitter, order
kept) and cuts a connection now and then (what a lossy network ends in for TCP: a stalled stream the peer
gives up on, or a reset). With several upstreams it balances new connections over them, round robin, and
passes over one that refuses (a killed replica), so payments reach the survivor."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

from paylinks_devstack.stack import free_port

CHUNK = 65536


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
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(host, port)
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
