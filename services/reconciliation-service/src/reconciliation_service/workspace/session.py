"""Who is using the workspace, and the proof that a form came from a page we rendered for them.

Staff arrive with the Bearer token the firm's single sign-on proxy adds to every request; for local use a
development sign-in puts a short-lived staff JWT (signed with the staff keys, so it is checked like the
proxy's) in an HttpOnly, SameSite=Strict cookie. Every POST carries a CSRF token in a hidden field: an HMAC,
under the staff signing key, of the credential the request came with, so it is per session, needs no
storage, and is worthless to anyone who does not hold the credential. POSTs must also name this origin.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import jwt
from fastapi import Request

from paylinks_runtime.auth import ALGORITHM, JwtKeys, StaffUser, bearer_token, decode_token
from paylinks_runtime.errors import ApiError

SESSION_COOKIE = "workspace_session"
SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class Session:
    user: StaffUser
    credential: str  # the JWT: forwarded to link-service for refunds, and what the CSRF token is bound to

    @property
    def is_admin(self) -> bool:
        return "admin" in self.user.roles


def current(request: Request, keys: JwtKeys) -> Session:
    """The signed-in staff member (Bearer header first, then the session cookie); 401 / 403 otherwise."""
    credential = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if credential is None:
        raise ApiError(401, "unauthorized", "Sign in to use the workspace.")
    user = decode_token(keys, credential)
    if "staff" not in user.roles:
        raise ApiError(403, "forbidden", "The workspace is for the firm's staff.")
    return Session(user, credential)


def development_session(keys: JwtKeys, firm_id: str, user_id: str, roles: list[str]) -> str:
    """A staff JWT of its own for each sign-in (`jti`): two sign-ins never share a CSRF token."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id, "firm_id": firm_id, "roles": roles, "jti": str(uuid.uuid4()),
        "iat": now, "exp": now + SESSION_TTL,
    }  # fmt: skip
    return jwt.encode(claims, keys.signing, algorithm=ALGORITHM)


def csrf_token(keys: JwtKeys, session: Session) -> str:
    return _mac(keys.signing, session.credential)


def csrf_valid(keys: JwtKeys, session: Session, sent: str | None) -> bool:
    """The token of this session under the current or a previous key (a rotation keeps open pages working)."""
    return bool(sent) and any(
        hmac.compare_digest(_mac(key, session.credential), sent or "") for key in keys.verifying
    )


def _mac(key: str, credential: str) -> str:
    return hmac.new(key.encode(), b"workspace-csrf|" + credential.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """The Origin (or else the Referer) names this server; requests with neither do not come from a form."""
    claimed = request.headers.get("origin") or _origin_of(request.headers.get("referer"))
    return claimed is None or claimed == f"{request.url.scheme}://{request.url.netloc}"


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
