"""A TCP proxy in front of Postgres that counts what crosses the wire, for tests that pin a code path's cost.

It reads the protocol (not the client library): a round trip is a message the client then waits on (a simple
`Query`, or the `Sync` that ends an extended-protocol exchange), and a transaction ends each time the server
says it is idle again (`ReadyForQuery` with status `I`), be it a COMMIT, a ROLLBACK or a statement run on its
own. Connect through it with TLS off (`sslmode=disable`): it must read the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

_HEADER = struct.Struct("!cI")  # a typed message: one type byte, then its length (which counts itself)
_UNTYPED = struct.Struct("!II")  # the startup, SSL and GSS requests: a length, then a code
_ENCRYPTION_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: the server answers one byte


@dataclass
class WireCount:
    round_trips: int = 0
    transactions: int = 0
    statements: list[str] = field(default_factory=list)  # simple queries' text, e.g. BEGIN and COMMIT

    def __sub__(self, before: WireCount) -> WireCount:
        return WireCount(
            self.round_trips - before.round_trips,
            self.transactions - before.transactions,
            self.statements[len(before.statements) :],
        )

    def snapshot(self) -> WireCount:
        return WireCount(self.round_trips, self.transactions, list(self.statements))


class CountingProxy:
    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._url = parts
        self.count = WireCount()
        self.port = 0

    @property
    def database_url(self) -> str:
        """The database URL, through the proxy and without TLS."""
        netloc = self._url.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        netloc_here = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
        query = "&".join(filter(None, [self._url.query, "sslmode=disable"]))
        return urlunsplit((self._url.scheme, netloc_here, self._url.path, query, ""))

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._upstream)
        try:
            await asyncio.gather(
                self._client_to_server(client_r, server_w), self._server_to_client(server_r, client_w)
            )
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # either side hung up (or the proxy is closing): the other side goes with it
        finally:
            for writer in (server_w, client_w):
                writer.close()

    async def _client_to_server(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # untyped requests until the startup message
            head = await reader.readexactly(_UNTYPED.size)
            length, code = _UNTYPED.unpack(head)
            writer.write(head + await reader.readexactly(length - _UNTYPED.size))
            await writer.drain()
            if code not in _ENCRYPTION_REQUESTS:
                break
        while True:
            head = await reader.readexactly(_HEADER.size)
            kind, length = _HEADER.unpack(head)
            body = await reader.readexactly(length - 4)
            if kind in (b"Q", b"S"):
                self.count.round_trips += 1
            if kind == b"Q":
                self.count.statements.append(body.rstrip(b"\0").decode(errors="replace").strip())
            writer.write(head + body)
            await writer.drain()

    async def _server_to_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = False
        while True:
            if not started:  # the one-byte answer to an encryption request comes untyped
                peek = await reader.readexactly(1)
                if peek in (b"N", b"S", b"G"):
                    writer.write(peek)
                    await writer.drain()
                    continue
                started = True
                length = struct.unpack("!I", await reader.readexactly(4))[0]
                kind, body = peek, await reader.readexactly(length - 4)
            else:
                head = await reader.readexactly(_HEADER.size)
                kind, length = _HEADER.unpack(head)
                body = await reader.readexactly(length - 4)
            if kind == b"Z" and body == b"I":
                self.count.transactions += 1
            writer.write(kind + struct.pack("!I", length) + body)
            await writer.drain()


@contextlib.asynccontextmanager
async def counting_proxy(database_url: str) -> AsyncIterator[CountingProxy]:
    """A proxy on a free local port, counting until the block ends (`proxy.database_url` to connect)."""
    proxy = CountingProxy(database_url)
    server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)
