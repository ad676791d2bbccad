"""A lean HTTP/1.1 client for the processor adapter: JSON POSTs over kept-alive connections.

Why not httpx here: profiled under figure 8 (py-spy on link-service), httpx + httpcore + anyio took about a
fifth of the service's CPU per payment for one small POST (its connection pool's bookkeeping, a socket
readability probe per request, anyio's stream layers). This client does only what the adapter needs:
a POST with a body and headers, the status and body back, connections kept alive and reused LIFO, the
response parsed by httptools (uvicorn's C parser, already a dependency of the runtime): Content-Length,
chunked, and close-delimited bodies.

Any failure to get a complete answer (refused, reset, EOF, timeout, a malformed response) raises
`TransportError` and closes that connection; the adapter then sends the same request again with the same
Idempotency-Key, exactly as it did on httpx's transport errors. A request sent on a REUSED connection that
the server had closed meanwhile (its keep-alive timeout) and that got no byte of answer is sent once more at
once on a fresh connection: the processor sees at most the same key twice, which it answers with the first
charge.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

_READ_SIZE = 65536
# Connections kept open for reuse; more concurrent requests than this open extra ones, closed after use.
MAX_IDLE = 32


class TransportError(Exception):
    """No complete answer: nothing is known of what the processor did with the request."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Response:
    """httptools' callbacks, collected."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A reused connection closed by the server before any byte of the answer."""


class KeepAliveClient:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._tls = ssl.create_default_context() if url.scheme == "https" else None
        self._host = url.hostname
        self._port = url.port or (443 if self._tls else 80)
        self._prefix = url.path.rstrip("/")
        host_header = url.netloc.rpartition("@")[2]
        common = {"Host": host_header, "Accept": "application/json", **headers}
        self._common = "".join(f"{k}: {v}\r\n" for k, v in common.items())
        self._timeout = timeout_seconds
        self._connect_timeout = connect_timeout_seconds
        self._idle: list[_Connection] = []
        self._closed = False

    async def post_json(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST `body` (JSON) to `path`: the answer, or TransportError."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"POST {self._prefix}{path} HTTP/1.1\r\n{self._common}{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        try:
            async with asyncio.timeout(self._timeout):
                conn = await self._connection()
                try:
                    return await self._exchange(conn, head + body)
                except _StaleConnection:
                    return await self._exchange(await self._open(), head + body)
        except TransportError:
            raise
        except (OSError, TimeoutError, asyncio.IncompleteReadError, httptools.HttpParserError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return await self._open()

    async def _open(self) -> _Connection:
        async with asyncio.timeout(self._connect_timeout):
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._tls, limit=_READ_SIZE
            )
        return _Connection(reader, writer)

    async def _exchange(self, conn: _Connection, request: bytes) -> Answer:
        reused, conn.used = conn.used, True
        kept = received = False
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            response = _Response()
            parser = httptools.HttpResponseParser(response)
            while not response.complete:
                data = await conn.reader.read(_READ_SIZE)
                if not data:
                    if not received and reused:
                        raise _StaleConnection()
                    # EOF: the end of a close-delimited body, else an answer cut short.
                    if received and "content-length" not in response.headers and not _chunked(response):
                        break
                    raise TransportError("the connection closed before the answer was complete")
                received = True
                parser.feed_data(data)
            status = parser.get_status_code()
            kept = response.complete and _keep_alive(parser, response) and not self._closed
            return Answer(status, b"".join(response.chunks), response.headers)
        except (ConnectionResetError, BrokenPipeError) as exc:
            if reused and not received:
                raise _StaleConnection() from exc
            raise
        finally:
            if kept and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
            else:
                conn.close()


def _keep_alive(parser: httptools.HttpResponseParser, response: _Response) -> bool:
    # Not parser.should_keep_alive(): llhttp answers False once the message is complete.
    connection = response.headers.get("connection", "").lower()
    if parser.get_http_version() == "1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _chunked(response: _Response) -> bool:
    return "chunked" in response.headers.get("transfer-encoding", "").lower()
