"""Staff authentication: `Authorization: Bearer <JWT>` (HS256), claims sub, firm_id, roles, exp; and the
one-payment grants of staff emails, signed with a key of their own.

Keys rotate: a token verifies under the current key or any previous one (`JwtKeys`), and only the current key
signs. A token is refused when it has no `exp`, or when its lifetime (exp - iat, or exp - now without iat)
exceeds the configured maximum: a leaked token signed for a year must not work for a year.

Clocks differ a little between the issuer and each service: every time claim (exp, iat, nbf) is checked with a
leeway of `CLOCK_LEEWAY` (30 s). Without it a service whose clock is a second behind the issuer's refuses a
token just issued ("not yet valid (iat)"). The leeway is bounded: a token is accepted at most 30 s past its
exp, and a clock off by more than that (a jump of minutes) still refuses; fix the clock, not the leeway.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request

from .errors import ApiError

ALGORITHM = "HS256"
# How far apart the issuer's and a verifying service's clocks may be (see the module's docstring).
CLOCK_LEEWAY = timedelta(seconds=30)


@dataclass(frozen=True)
class JwtKeys:
    signing: str
    previous: tuple[str, ...] = ()
    max_lifetime: timedelta = timedelta(hours=12)

    @property
    def verifying(self) -> tuple[str, ...]:
        return (self.signing, *self.previous)


@dataclass(frozen=True)
class StaffUser:
    user_id: str
    firm_id: str
    roles: frozenset[str]


def issue_token(secret: str, *, user_id: str, firm_id: str, roles: list[str], ttl: timedelta) -> str:
    """Mint a staff token (for tests, the demo and the benchmarks)."""
    now = datetime.now(UTC)
    claims = {"sub": user_id, "firm_id": firm_id, "roles": roles, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(keys: JwtKeys, token: str) -> StaffUser:
    claims = verified_claims(keys, token)
    firm_id, roles = claims.get("firm_id"), claims.get("roles", [])
    if not isinstance(firm_id, str) or not firm_id or not isinstance(roles, list):
        raise _unauthorized("token lacks firm_id or roles")
    return StaffUser(str(claims["sub"]), firm_id, frozenset(str(r) for r in roles))


def verified_claims(keys: JwtKeys, token: str) -> dict[str, Any]:
    """The claims of a token signed by one of `keys` and within its lifetime; 401 otherwise."""
    try:
        claims = _signed_by_one_of(keys.verifying, token)
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("invalid token") from exc
    started = claims.get("iat", datetime.now(UTC).timestamp())
    if claims["exp"] - started > keys.max_lifetime.total_seconds():
        raise _unauthorized("token lifetime exceeds the maximum")
    return claims


def _signed_by_one_of(secrets: tuple[str, ...], token: str) -> dict[str, Any]:
    options: jwt.types.Options = {"require": ["exp", "sub"]}
    for secret in secrets[:-1]:
        try:
            return jwt.decode(token, secret, algorithms=[ALGORITHM], options=options, leeway=CLOCK_LEEWAY)
        except jwt.InvalidSignatureError:
            continue  # maybe signed by a key being rotated out
    return jwt.decode(token, secrets[-1], algorithms=[ALGORITHM], options=options, leeway=CLOCK_LEEWAY)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_role(
    role: str, keys: Callable[[], JwtKeys]
) -> Callable[[Request], Coroutine[Any, Any, StaffUser]]:
    """A FastAPI dependency: the caller's StaffUser, 401 without a valid token, 403 without `role`."""

    async def dependency(request: Request) -> StaffUser:
        token = bearer_token(request)
        if token is None:
            raise _unauthorized("missing bearer token")
        user = decode_token(keys(), token)
        if role not in user.roles:
            raise ApiError(403, "forbidden", f"the '{role}' role is required")
        return user

    return dependency


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


PAYMENT_GRANT_SCOPE = "link-payment"


@dataclass(frozen=True)
class PaymentGrant:
    """What an emailed grant allows: its recipient may link one payment of one firm, once."""

    grant_id: str
    firm_id: str
    payment_id: str
    recipient: str
    expires_at: datetime

    @property
    def user(self) -> StaffUser:
        """Who the link action is recorded under: the address the email went to."""
        return StaffUser(self.recipient, self.firm_id, frozenset({"staff"}))


def issue_payment_grant(
    keys: JwtKeys, *, firm_id: str, payment_id: str, recipient: str, ttl: timedelta | None = None
) -> str:
    """A grant for the staff email sent to `recipient`, valid for the keys' maximum lifetime (or `ttl`)."""
    now = datetime.now(UTC)
    claims = {
        "sub": recipient,
        "jti": str(uuid.uuid4()),
        "firm_id": firm_id,
        "scope": PAYMENT_GRANT_SCOPE,
        "payment_id": payment_id,
        "iat": now,
        "exp": now + (keys.max_lifetime if ttl is None else ttl),
    }
    return jwt.encode(claims, keys.signing, algorithm=ALGORITHM)


def decode_payment_grant(keys: JwtKeys, token: str, payment_id: str) -> PaymentGrant:
    """The grant, valid for `payment_id` only; 401 otherwise."""
    try:
        claims = verified_claims(keys, token)
    except ApiError as exc:
        raise _unauthorized("invalid or expired link") from exc
    if claims.get("scope") != PAYMENT_GRANT_SCOPE or claims.get("payment_id") != payment_id:
        raise _unauthorized("this link is for another payment")
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("firm_id"), str):
        raise _unauthorized("invalid or expired link")
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    return PaymentGrant(claims["jti"], claims["firm_id"], payment_id, str(claims["sub"]), expires_at)
