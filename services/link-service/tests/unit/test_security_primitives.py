"""Tokens, webhook signatures, rate limits and log redaction."""

from __future__ import annotations

import logging

import pytest

from link_service.rate_limit import SlidingWindowLimiter
from link_service.token_redaction import RedactPayTokens, redact
from link_service.tokens import LinkTokens
from paylinks_runtime import webhook_signature

pytestmark = pytest.mark.unit
SECRET = "whsec"
BODY = b'{"id":"w1"}'


def test_tokens_are_long_random_and_rebuilt_from_their_seed_with_the_key_only() -> None:
    tokens = LinkTokens("key-1")
    seed = tokens.new_seed()
    token = tokens.token(seed)
    assert len(token) == 43
    assert tokens.token(seed) == token
    assert tokens.token(tokens.new_seed()) != token
    assert LinkTokens("key-2").token(seed) != token
    assert LinkTokens.lookup_hash(token) != token.encode()
    assert len(LinkTokens.lookup_hash(token)) == 32


def test_a_good_signature_passes_within_the_tolerance() -> None:
    header = webhook_signature.sign(SECRET, 1_000, BODY)
    assert webhook_signature.verify(SECRET, header, BODY, now=1_300, tolerance=300)
    assert not webhook_signature.verify(SECRET, header, BODY, now=1_301, tolerance=300)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        "t=abc,v1=abc",
        "t=1000",
        "t=1000,v1=" + "0" * 64,
        webhook_signature.sign("other", 1_000, BODY),
        webhook_signature.sign(SECRET, 1_000, b"{}"),
    ],
)
def test_bad_signatures_fail(header: str | None) -> None:
    assert not webhook_signature.verify(SECRET, header, BODY, now=1_000, tolerance=300)


def test_any_of_several_v1_may_match() -> None:
    good = webhook_signature.sign(SECRET, 1_000, BODY).split(",")[1]
    assert webhook_signature.verify(SECRET, f"t=1000,v1=deadbeef,{good}", BODY, now=1_000, tolerance=300)


def test_the_limiter_counts_per_key_within_a_sliding_window() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 60, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a"), limiter.allow("b")] == [
        True,
        True,
        False,
        True,
    ]
    now[0] = 59.9
    assert not limiter.allow("a")
    now[0] = 60.1
    assert limiter.allow("a")


def test_pay_tokens_are_redacted_from_logged_paths() -> None:
    assert redact('"POST /pay/abcDEF_-123/payments HTTP/1.1"') == '"POST /pay/<token>/payments HTTP/1.1"'
    assert redact("GET /v1/pay/abc?via=qr") == "GET /v1/pay/<token>?via=qr"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s "%s %s"', ("ip", "GET", "/pay/s3cr3t"), None
    )
    RedactPayTokens().filter(record)
    assert "s3cr3t" not in record.getMessage()
