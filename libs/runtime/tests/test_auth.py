"""Staff tokens and payment grants: what gets in, and the 401/403 for everything else."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest

from paylinks_runtime.auth import (
    CLOCK_LEEWAY,
    JwtKeys,
    decode_payment_grant,
    decode_token,
    issue_payment_grant,
    issue_token,
)
from paylinks_runtime.errors import ApiError

pytestmark = pytest.mark.unit
SECRET = "s" * 40
KEYS = JwtKeys(SECRET)
GRANT_KEYS = JwtKeys("g" * 40, max_lifetime=timedelta(hours=72))
# Expired for longer than the clocks' leeway: refused.
PAST_LEEWAY = CLOCK_LEEWAY + timedelta(seconds=5)


def test_a_valid_token_gives_the_user_with_firm_and_roles() -> None:
    token = issue_token(SECRET, user_id="u1", firm_id="f1", roles=["staff"], ttl=timedelta(minutes=5))
    user = decode_token(KEYS, token)
    assert (user.user_id, user.firm_id, user.roles) == ("u1", "f1", frozenset({"staff"}))


_ONE_HOUR = {"iat": time.time(), "exp": time.time() + 3600}  # made at collection: it may run later


def _unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            issue_token(SECRET, user_id="u", firm_id="f", roles=["staff"], ttl=-PAST_LEEWAY),
            "expired",
        ),
        (
            issue_token("other" * 10, user_id="u", firm_id="f", roles=["staff"], ttl=timedelta(minutes=5)),
            "invalid",
        ),
        (_unsigned({"sub": "u", "firm_id": "f", "roles": ["admin"], "exp": 9999999999}), "invalid"),
        (jwt.encode({"sub": "u", "roles": ["staff"], **_ONE_HOUR}, SECRET), "firm_id"),
        (jwt.encode({"firm_id": "f", "roles": ["staff"], **_ONE_HOUR}, SECRET), "invalid"),
        ("garbage", "invalid"),
    ],
    ids=["expired", "wrong-secret", "alg-none", "no-firm", "no-sub", "garbage"],
)
def test_bad_tokens_are_401(token: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_token(KEYS, token)
    assert caught.value.status == 401
    assert message in caught.value.message


def test_a_payment_grant_opens_that_payment_only_for_its_recipient() -> None:
    grant = issue_payment_grant(GRANT_KEYS, firm_id="f1", payment_id="p1", recipient="office@f1.example")
    decoded = decode_payment_grant(GRANT_KEYS, grant, "p1")
    assert (decoded.firm_id, decoded.user.user_id) == ("f1", "office@f1.example")
    with pytest.raises(ApiError, match="another payment"):
        decode_payment_grant(GRANT_KEYS, grant, "p2")


def test_a_staff_token_is_not_a_payment_grant_nor_a_grant_a_staff_token() -> None:
    token = issue_token(SECRET, user_id="u1", firm_id="f1", roles=["staff"], ttl=timedelta(minutes=5))
    with pytest.raises(ApiError):
        decode_payment_grant(GRANT_KEYS, token, "p1")
    grant = issue_payment_grant(GRANT_KEYS, firm_id="f1", payment_id="p1", recipient="a@f1.example")
    with pytest.raises(ApiError, match="invalid"):
        decode_token(KEYS, grant)


def test_a_token_signed_by_a_previous_key_verifies_while_only_the_current_one_signs() -> None:
    rotated = JwtKeys("new" * 14, previous=("older" * 8, SECRET))
    old = issue_token(SECRET, user_id="u1", firm_id="f1", roles=["staff"], ttl=timedelta(minutes=5))
    assert decode_token(rotated, old).user_id == "u1"
    with pytest.raises(ApiError, match="invalid"):
        decode_token(JwtKeys("new" * 14), old)  # once the old key is dropped


def _claims(**times: float) -> dict[str, object]:
    return {"sub": "u", "firm_id": "f", "roles": ["staff"]} | times


@pytest.mark.parametrize(
    "claims",
    [
        _claims(iat=time.time(), exp=time.time() + 13 * 3600),
        _claims(exp=time.time() + 13 * 3600),  # no iat: counted from now
        _claims(iat=time.time() - 3600, exp=time.time() + 12 * 3600),
    ],
    ids=["issued-for-13h", "no-iat-13h-left", "issued-13h-before-expiry"],
)
def test_a_token_living_longer_than_the_maximum_is_401(claims: dict[str, object]) -> None:
    with pytest.raises(ApiError, match="lifetime") as caught:
        decode_token(KEYS, jwt.encode(claims, SECRET))
    assert caught.value.status == 401


def test_a_token_within_the_maximum_lifetime_and_one_without_exp() -> None:
    fine = jwt.encode(_claims(iat=time.time() - 3600, exp=time.time() + 10 * 3600), SECRET)
    assert decode_token(KEYS, fine).firm_id == "f"
    with pytest.raises(ApiError, match="invalid"):
        decode_token(KEYS, jwt.encode(_claims(iat=time.time()), SECRET))


def _token_from_a_clock(offset: timedelta, ttl: timedelta = timedelta(minutes=5)) -> str:
    """A staff token issued by a clock `offset` away from this one (ahead: positive)."""
    now = time.time() + offset.total_seconds()
    return jwt.encode(_claims(iat=now, exp=now + ttl.total_seconds()), SECRET, algorithm="HS256")


@pytest.mark.parametrize("offset_seconds", [1, 10, 25])
def test_a_fresh_token_from_an_issuer_whose_clock_is_ahead_within_the_leeway_is_accepted(
    offset_seconds: int,
) -> None:
    """This service's clock is behind the issuer's: the token's iat is in its future, by less than the
    leeway; without one, PyJWT refuses it ("not yet valid (iat)")."""
    assert timedelta(seconds=offset_seconds) < CLOCK_LEEWAY
    assert decode_token(KEYS, _token_from_a_clock(timedelta(seconds=offset_seconds))).user_id == "u"


def test_the_leeway_is_bounded_a_clock_minutes_apart_still_refuses() -> None:
    assert timedelta(seconds=60) >= CLOCK_LEEWAY
    with pytest.raises(ApiError, match="invalid"):  # iat minutes in the future
        decode_token(KEYS, _token_from_a_clock(CLOCK_LEEWAY + timedelta(seconds=30)))
    expired_within = _token_from_a_clock(-timedelta(minutes=5), ttl=timedelta(minutes=5) - CLOCK_LEEWAY / 2)
    assert decode_token(KEYS, expired_within).user_id == "u"  # expired by half the leeway: clocks differ
    expired_beyond = _token_from_a_clock(-timedelta(minutes=5), ttl=timedelta(minutes=5) - PAST_LEEWAY)
    with pytest.raises(ApiError, match="expired"):
        decode_token(KEYS, expired_beyond)
