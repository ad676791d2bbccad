"""Staff tokens and payment grants: what gets in, and the 401/403 for everything else."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from paylinks_runtime.auth import decode_payment_grant, decode_token, issue_payment_grant, issue_token
from paylinks_runtime.errors import ApiError

pytestmark = pytest.mark.unit
SECRET = "s" * 40


def test_a_valid_token_gives_the_user_with_firm_and_roles() -> None:
    token = issue_token(SECRET, user_id="u1", firm_id="f1", roles=["staff"], ttl=timedelta(minutes=5))
    user = decode_token(SECRET, token)
    assert (user.user_id, user.firm_id, user.roles) == ("u1", "f1", frozenset({"staff"}))


def _unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            issue_token(SECRET, user_id="u", firm_id="f", roles=["staff"], ttl=timedelta(seconds=-5)),
            "expired",
        ),
        (
            issue_token("other" * 10, user_id="u", firm_id="f", roles=["staff"], ttl=timedelta(minutes=5)),
            "invalid",
        ),
        (_unsigned({"sub": "u", "firm_id": "f", "roles": ["admin"], "exp": 9999999999}), "invalid"),
        (jwt.encode({"sub": "u", "roles": ["staff"], "exp": 9999999999}, SECRET), "firm_id"),
        (jwt.encode({"firm_id": "f", "roles": ["staff"], "exp": 9999999999}, SECRET), "invalid"),
        ("garbage", "invalid"),
    ],
    ids=["expired", "wrong-secret", "alg-none", "no-firm", "no-sub", "garbage"],
)
def test_bad_tokens_are_401(token: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_token(SECRET, token)
    assert caught.value.status == 401
    assert message in caught.value.message


def test_a_payment_grant_opens_that_payment_only() -> None:
    grant = issue_payment_grant(SECRET, firm_id="f1", payment_id="p1", ttl=timedelta(days=7))
    assert decode_payment_grant(SECRET, grant, "p1").firm_id == "f1"
    with pytest.raises(ApiError, match="another payment"):
        decode_payment_grant(SECRET, grant, "p2")


def test_a_staff_token_is_not_a_payment_grant() -> None:
    token = issue_token(SECRET, user_id="u1", firm_id="f1", roles=["staff"], ttl=timedelta(minutes=5))
    with pytest.raises(ApiError):
        decode_payment_grant(SECRET, token, "p1")
