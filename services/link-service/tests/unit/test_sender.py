"""The processor adapter's HTTP client against a real socket server on 127.0.0.1 (scripted raw answers):
bodies by length, chunked and close-delimited, connections reused, a connection the server closed while
idle replaced at once, an answer cut short or missing a transport error, and the adapter over it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from link_service.processor import Charged, ChargeRequest, ProcessorUnavailable
from link_service.processor.http import HttpProcessor
from link_service.processor.sender import AiohttpSender, Answer, TransportError

pytestmark = pytest.mark.unit

Reply = Callable[[bytes], bytes | None]  # a request's raw bytes -> raw answer (None: close without one)


class Server:
    def __init__(self, replies: list[Reply], close_after_each: bool = False) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.connections = 0
        self.close_after_each = close_after_each
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(
                        b":"
                    )[1]
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.replies.pop(0)(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after_each or b"connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def drop_idle(self) -> None:
        for writer in self.writers:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listener.close()


def json_answer(status: int, body: object) -> Reply:
    data = json.dumps(body).encode()
    return lambda _: (
        f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n".encode()
        + f"content-length: {len(data)}\r\n\r\n".encode()
        + data
    )


def client(url: str, timeout: float = 2.0) -> AiohttpSender:
    return AiohttpSender(url, timeout_seconds=timeout, connect_timeout_seconds=1)


async def post_once(url: str, timeout: float = 2.0) -> Answer:
    """One POST by a sender of its own, closed afterwards whatever the POST did (an unclosed one is
    reported when the collector finds it, in whichever test runs then)."""
    sender = client(url, timeout)
    try:
        return await sender.post_json("/p", b"{}", {})
    finally:
        await sender.aclose()


async def test_answers_by_length_are_read_and_the_connection_reused() -> None:
    server = Server([json_answer(201, {"a": 1}), json_answer(402, {"b": 2})])
    async with serving(server) as url:
        c = client(url)
        first = await c.post_json(
            "/v1/payments", b'{"x":1}', {"Authorization": "Bearer sk", "Idempotency-Key": "payment:1"}
        )
        second = await c.post_json("/v1/payments", b'{"x":2}', {"Idempotency-Key": "payment:2"})
        await c.aclose()
    assert (first.status, json.loads(first.body)) == (201, {"a": 1})
    assert (second.status, json.loads(second.body)) == (402, {"b": 2})
    assert server.connections == 1
    head = server.requests[0].decode()
    assert head.startswith("POST /v1/payments HTTP/1.1\r\n")
    assert "Authorization: Bearer sk\r\n" in head
    assert "Idempotency-Key: payment:1\r\n" in head
    assert head.endswith('\r\n\r\n{"x":1}')


async def test_chunked_and_close_delimited_bodies() -> None:
    chunked = b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
    closing = b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"c":3}'
    server = Server([lambda _: chunked, lambda _: closing])
    async with serving(server) as url:
        c = client(url)
        first = await c.post_json("/p", b"{}", {})
        second = await c.post_json("/p", b"{}", {})
        await c.aclose()
    assert json.loads(first.body) == {"a": 1}
    assert json.loads(second.body) == {"c": 3}


async def test_a_connection_closed_while_idle_is_replaced_at_once() -> None:
    server = Server([json_answer(200, {"n": 1}), json_answer(200, {"n": 2})])
    async with serving(server) as url:
        c = client(url)
        await c.post_json("/p", b"{}", {})
        server.drop_idle()  # the server's keep-alive timeout
        await asyncio.sleep(0.05)
        again = await c.post_json("/p", b"{}", {})
        await c.aclose()
    assert json.loads(again.body) == {"n": 2}
    assert server.connections == 2


async def test_no_answer_or_a_cut_answer_is_a_transport_error() -> None:
    cut = b'HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{"partial'
    server = Server([lambda _: None, lambda _: cut], close_after_each=True)
    async with serving(server) as url:
        c = client(url)
        with pytest.raises(TransportError):
            await c.post_json("/p", b"{}", {})  # a fresh connection closed without a byte
        with pytest.raises(TransportError):
            await c.post_json("/p", b"{}", {})
        await c.aclose()
    with pytest.raises(TransportError):  # refused: nothing listens there any more
        await post_once(url)


async def test_a_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(TransportError):
            await post_once(url, timeout=0.2)
    finally:
        listener.close()


async def test_the_adapter_charges_through_it_and_sends_the_same_key_again_after_no_answer() -> None:
    body = {"id": "py_1", "status": "pending", "method": "card", "payment_method": {"last4": "4242"}}
    server = Server([lambda _: None, json_answer(201, body)], close_after_each=True)
    request = ChargeRequest("p-1", "pm_1", "card", 12_500, "USD", "f-1", "ba-t", "ba-o")
    async with serving(server) as url:
        processor = HttpProcessor(url, "sk", attempts=3, backoff_seconds=0)
        outcome = await processor.charge(request)
        await processor.aclose()
    assert outcome == Charged(method="card", last4="4242", brand=None)
    keys = [r.split(b"Idempotency-Key: ")[1].split(b"\r\n")[0] for r in server.requests]
    assert keys == [b"payment:p-1", b"payment:p-1"]
    assert all(b"\r\nAuthorization: Bearer sk\r\n" in r for r in server.requests)
    assert json.loads(server.requests[0].split(b"\r\n\r\n", 1)[1]) == request.as_json()


async def test_the_adapter_gives_up_after_its_attempts() -> None:
    server = Server([lambda _: None] * 3, close_after_each=True)
    request = ChargeRequest("p-2", "pm_2", "card", 100, "USD", "f-1", "ba-t", "ba-o")
    async with serving(server) as url:
        processor = HttpProcessor(url, "sk", attempts=3, backoff_seconds=0)
        with pytest.raises(ProcessorUnavailable):
            await processor.charge(request)
        await processor.aclose()
    assert len(server.requests) == 3
