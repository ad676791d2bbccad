"""Request bodies over 64 KiB (CONTRACT.md 2): 413 from every service before anything reads the body whole,
before authentication, whether the size is declared or the body streams in chunks."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from urllib.parse import urlsplit

import pytest

from .firm import Firm
from .system import BILLING, LINK, NOTIFIER, RECONCILIATION, client_address

# One write per service, none of them with a token: the body is judged before the caller is.
WRITES = [
    (LINK, "POST", "/v1/bank-accounts"),
    (BILLING, "POST", "/v1/bills"),
    (RECONCILIATION, "POST", "/v1/payments/p-1/link"),
    (NOTIFIER, "PUT", "/v1/notification-recipients"),
]
MIB = 1024 * 1024
MAX_BODY_BYTES = 64 * 1024  # CONTRACT.md 2


def _json_of(size: int) -> bytes:
    padding = b'{"name": "' + b"x" * size
    return padding[: size - 2] + b'"}'


@pytest.mark.parametrize(("service", "method", "path"), WRITES)
async def test_a_declared_body_over_64_kib_is_413_before_auth(
    firm: Firm, service: str, method: str, path: str
) -> None:
    # Protection: paylinks_runtime.http_middleware.LimitBodySize (Content-Length) ahead of every route.
    client = firm.clients[service]
    headers = {"Content-Type": "application/json"}
    too_large = await client.request(method, path, content=_json_of(MAX_BODY_BYTES + 1), headers=headers)
    assert too_large.status_code == 413, too_large.text
    assert too_large.json()["error"]["code"] == "too_large"
    assert too_large.headers["connection"] == "close"
    at_the_limit = await client.request(method, path, content=_json_of(MAX_BODY_BYTES), headers=headers)
    assert at_the_limit.status_code == 401, at_the_limit.text  # the limit is 64 KiB, not less


async def test_a_chunked_50_mib_body_is_cut_off_at_the_limit(firm: Firm) -> None:
    # Protection: LimitBodySize's streaming cap (no Content-Length): the read stops at the first chunk past
    # 64 KiB and the connection closes, so neither the bytes taken from the client nor the memory of the
    # process grow with the body.
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    status_line, sent = await _post_chunked(str(firm.billing.base_url), "/v1/bills", 50 * MIB)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert status_line.startswith(b"HTTP/1.1 413 "), status_line
    assert sent < 16 * MIB, f"{sent / MIB:.1f} MiB left the client before the refusal"
    assert (peak_after - peak_before) * 1024 < 16 * MIB


async def _post_chunked(base_url: str, path: str, size: int) -> tuple[bytes, int]:
    """Streams `size` bytes in 64 KiB chunks while reading the answer: (its status line, bytes sent)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port, local_addr=(client_address(), 0))
    head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    writer.write(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
    sent, chunk = 0, b"x" * (64 * 1024)

    async def upload() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            while sent < size:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    uploading = asyncio.create_task(upload())
    try:
        status_line = await reader.readline()
    finally:
        uploading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await uploading
        writer.close()
    return status_line, sent
