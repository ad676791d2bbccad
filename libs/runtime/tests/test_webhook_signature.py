"""The processor's webhook signature, as both ends use it: the sandbox signs, link-service verifies."""

import hashlib
import hmac

import pytest

from paylinks_runtime.webhook_signature import sign, verify

pytestmark = pytest.mark.unit

SECRET = "whsec-test"
BODY = b'{"id":"evt_1","type":"payment.succeeded","data":{}}'


def test_the_header_is_t_and_v1_hex_hmac_sha256_over_t_dot_raw_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_700_000_000, BODY) == f"t=1700000000,v1={expected}"


def test_a_signature_verifies_within_the_tolerance_only() -> None:
    header = sign(SECRET, 1_000, BODY)
    assert verify(SECRET, header, BODY, now=1_300, tolerance=300)
    assert verify(SECRET, header, BODY, now=700, tolerance=300)
    assert not verify(SECRET, header, BODY, now=1_301, tolerance=300)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=1000",
        "v1=abc",
        "t=abc,v1=abc",
        sign("other", 1_000, BODY),
        sign(SECRET, 1_000, BODY + b" "),
    ],
)
def test_anything_else_fails(header: str | None) -> None:
    assert not verify(SECRET, header, BODY, now=1_000, tolerance=300)


def test_any_of_several_v1_values_may_match_for_secret_rotation() -> None:
    good = sign(SECRET, 1_000, BODY).split(",")[1]
    assert verify(SECRET, f"t=1000,v1=deadbeef,{good}", BODY, now=1_000, tolerance=300)
