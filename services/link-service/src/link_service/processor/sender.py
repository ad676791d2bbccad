"""The processor adapter's HTTP client: JSON POSTs over kept-alive connections, through aiohttp.

Why not httpx here: profiled under figure 8 (py-spy on link-service), httpx + httpcore + anyio took about a
fifth of the service's CPU per payment for one small POST. Measured alone (one small JSON POST to a local
server in another process, client CPU per request, 5,000 requests x 3 rounds, quiet machine): httpx
434-453 us, aiohttp 100-104 us, a hand-written httptools client 40-41 us. aiohttp is kept: the 60 us it
costs over hand-written code is about 1-2% of a payment's intake CPU, and it brings a maintained TLS,
connection pool and HTTP parser to a call that moves client money.

Any failure to get a complete answer (refused, reset, EOF, timeout, a malformed or cut response) raises
`TransportError`; the adapter then sends the same request again with the same Idempotency-Key, which the
processor answers with the first charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

# Idle connections are closed after this long, before the 5 s keep-alive timeout of common servers
# (uvicorn's, the sandbox's), so a request is rarely sent on a connection the server is closing: such a
# POST is not resent by aiohttp and would cost the adapter a retry.
IDLE_SECONDS = 4.0


class TransportError(Exception):
    """No complete answer: nothing is known of what the processor did with the request."""


@dataclass(frozen=True)
class Answer:
    """What the adapter reads of a response: its status and JSON body (no header of it is used)."""

    status: int
    body: bytes


class Sender(Protocol):
    """What the adapter sends its requests through."""

    async def post_json(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """The processor's answer; TransportError when there is none."""
        ...

    async def aclose(self) -> None: ...


class AiohttpSender:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=connect_timeout_seconds)
        # Made at the first call: aiohttp wants its session created inside the running event loop.
        self._session: aiohttp.ClientSession | None = None

    async def post_json(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST `body` (JSON) to `path`: the answer, or TransportError."""
        try:
            async with self._client().post(
                self._base + path,
                data=body,
                headers={**headers, "Content-Type": "application/json"},
            ) as response:
                return Answer(response.status, await response.read())
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_SECONDS),
                # Answers are JSON read whole; the adapter, not aiohttp, decides what a status means.
                raise_for_status=False,
            )
        return self._session
