"""Pay tokens are capabilities: anything but the exact token is the same 404, and guessing is rate-limited."""

from __future__ import annotations

import base64
import secrets

import pytest

from .firm import Firm
from .system import System, http_client

NOT_FOUND = {"error": {"code": "not_found", "message": "This payment link does not exist."}}


def flip_bit(token: str, bit: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "="))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def same_bytes_other_spelling(token: str) -> str:
    """43 base64 characters carry 258 bits for 256: the last character's two spare bits can be set
    without changing the decoded bytes. A lookup that decoded the token first would accept this."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    other = alphabet[last ^ 0b11]
    assert base64.urlsafe_b64decode(token[:-1] + other + "=") == base64.urlsafe_b64decode(token + "=")
    return token[:-1] + other


def forgeries(token: str) -> dict[str, str]:
    return {
        "random": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
        "random short": secrets.token_urlsafe(8),
        "truncated by one": token[:-1],
        "first half": token[: len(token) // 2],
        "one more character": token + "A",
        "padded": token + "=",
        "upper-cased": token.upper(),
        "first bit flipped": flip_bit(token, 0),
        "middle bit flipped": flip_bit(token, 128),
        "last bit flipped": flip_bit(token, 255),
        "same bytes, other spelling": same_bytes_other_spelling(token),
        "sql": "' OR '1'='1",
        "wildcard": "%",
    }


async def test_random_truncated_and_bit_flipped_tokens_are_the_same_404(firm: Firm) -> None:
    # Protection: exact lookup by sha256(token) (link_service.tokens / api.context.resolve), one message.
    token = await firm.account_token()
    assert (await firm.link.get(f"/v1/pay/{token}")).status_code == 200  # the real one opens
    for what, forged in forgeries(token).items():
        assert forged != token
        shown = await firm.link.get(f"/v1/pay/{forged}")
        attempted = await firm.pay(forged, {"amount": 100})
        page = await firm.link.get(f"/pay/{forged}")
        assert (shown.status_code, shown.json()) == (404, NOT_FOUND), what
        assert (attempted.status_code, attempted.json()) == (404, NOT_FOUND), what
        assert page.status_code == 404, what
        assert "This payment link does not exist." in page.text, what


async def test_guessing_tokens_hits_the_rate_limit_and_then_even_the_right_token_is_429(
    system: System, firm: Firm
) -> None:
    # Protection: the per-client sliding window of the public pay endpoints (context.limit_client).
    token = await firm.account_token()
    limit = system.link.settings.pay_requests_per_client  # type: ignore[attr-defined]
    async with http_client(system.link.url) as guesser:
        statuses = [
            (await guesser.get(f"/v1/pay/{secrets.token_urlsafe(32)}")).status_code for _ in range(limit)
        ]
        assert statuses == [404] * limit
        refused = await guesser.get(f"/v1/pay/{secrets.token_urlsafe(32)}")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "60"
        assert refused.json()["error"]["code"] == "too_many_requests"
        # Once limited, a right guess is not told apart from a wrong one, by any pay route.
        assert (await guesser.get(f"/v1/pay/{token}")).status_code == 429
        assert (await guesser.post(f"/v1/pay/{token}/payments", json={})).status_code == 429
        assert (await guesser.get(f"/pay/{token}")).status_code == 429
        # A forwarded-for header from an untrusted client is not a new identity.
        spoofed = await guesser.get(f"/v1/pay/{token}", headers={"X-Forwarded-For": "203.0.113.7"})
        assert spoofed.status_code == 429
    async with http_client(system.link.url) as somebody_else:
        assert (await somebody_else.get(f"/v1/pay/{token}")).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_token_in_the_path_never_reaches_sql_or_the_filesystem(firm: Firm, method: str) -> None:
    # Protection: the token is only ever hashed; path tricks are either unroutable or an unknown token.
    for forged in ("..%2F..%2Fetc%2Fpasswd", "%00", "%25", "a%0d%0aSet-Cookie:x=1", "a" * 5000):
        path = f"/v1/pay/{forged}" + ("/payments" if method == "POST" else "")
        response = await firm.link.request(method, path, json={} if method == "POST" else None)
        assert response.status_code in (404, 422), (forged, response.text)
        assert "set-cookie" not in response.headers
        assert isinstance(response.json()["error"]["code"], str)
