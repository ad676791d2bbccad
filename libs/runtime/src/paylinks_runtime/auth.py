"""Staff authentication: `Authorization: Bearer <JWT>` (HS256), claims sub, firm_id, roles, exp."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request

from .errors import ApiError

ALGORITHM = "HS256"


@dataclass(frozen=True)
class StaffUser:
    user_id: str
    firm_id: str
    roles: frozenset[str]


def issue_token(secret: str, *, user_id: str, firm_id: str, roles: list[str], ttl: timedelta) -> str:
    """Mint a staff token (for tests, the demo, and the signed link in emails)."""
    claims = {"sub": user_id, "firm_id": firm_id, "roles": roles, "exp": datetime.now(UTC) + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> StaffUser:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("invalid token") from exc
    firm_id, roles = claims.get("firm_id"), claims.get("roles", [])
    if not isinstance(firm_id, str) or not firm_id or not isinstance(roles, list):
        raise _unauthorized("token lacks firm_id or roles")
    return StaffUser(str(claims["sub"]), firm_id, frozenset(str(r) for r in roles))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_role(role: str, secret: Callable[[], str]) -> Callable[[Request], Coroutine[Any, Any, StaffUser]]:
    """A FastAPI dependency: the caller's StaffUser, 401 without a valid token, 403 without `role`."""

    async def dependency(request: Request) -> StaffUser:
        token = bearer_token(request)
        if token is None:
            raise _unauthorized("missing bearer token")
        user = decode_token(secret(), token)
        if role not in user.roles:
            raise ApiError(403, "forbidden", f"the '{role}' role is required")
        return user

    return dependency


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


PAYMENT_GRANT_SCOPE = "link-payment"


def issue_payment_grant(secret: str, *, firm_id: str, payment_id: str, ttl: timedelta) -> str:
    """A short-lived token that lets whoever holds the staff email open the link page of ONE payment."""
    claims = {
        "sub": "email-link",
        "firm_id": firm_id,
        "scope": PAYMENT_GRANT_SCOPE,
        "payment_id": payment_id,
        "exp": datetime.now(UTC) + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_payment_grant(secret: str, token: str, payment_id: str) -> StaffUser:
    """The grant's holder as a staff user of its firm, valid for `payment_id` only; 401 otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise _unauthorized("invalid or expired link") from exc
    if claims.get("scope") != PAYMENT_GRANT_SCOPE or claims.get("payment_id") != payment_id:
        raise _unauthorized("this link is for another payment")
    return StaffUser(str(claims["sub"]), str(claims["firm_id"]), frozenset({"staff"}))
