"""The staff page behind the email button: `GET /payments/{payment_id}/link` shows the payment and lets
staff find a matter or client and link it; forms POST back to the same URL.

Who may use it: a staff Bearer token, or the signed one-payment grant from the email. The grant arrives as
`?grant=` once, is exchanged for an HttpOnly, SameSite=Strict cookie scoped to this page's path, and the
browser is redirected to the clean URL so the token does not linger in history or logs. POSTs must come
from this origin (SameSite=Strict already keeps the cookie off cross-site requests).

A grant is not a staff session. Its URL opens the page once (a second opening is refused: forward the
email and the first click wins; sign in instead). It shows that one payment and allows ONE link action,
recorded under the addresses the email went to; afterwards it still shows the payment, and nothing else.
Its search is what choosing a matter or client needs and no more: at least 3 characters, matters by name or
number and clients by name, 5 of each at most, and no email addresses (a staff session searches everything,
emails included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paylinks_events.money import format_money
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.auth import (
    PaymentGrant,
    StaffUser,
    bearer_token,
    decode_payment_grant,
    decode_token,
)
from paylinks_runtime.errors import ApiError

from . import commands, grants, queries, views
from .dependencies import runtime_of, settings_of, writer_of
from .domain import PaymentRef, TargetRequest
from .errors import REFUSALS
from .workspace import present
from .workspace.session import SESSION_COOKIE

GRANT_COOKIE = "payment_link_grant"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the page's own form posts
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# The grant is in the URL of the exchange: nothing of it may leave in a Referer.
_EXCHANGE_HEADERS = _SECURITY_HEADERS | {"Referrer-Policy": "no-referrer"}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # payer names and references are hostile input
    undefined=jinja2.Undefined,
)


def _money(amount: int | None, currency: str) -> str:
    """Minor units by the currency's exponent ("$125.00", "¥5,000", "1.500 KWD"); None is not yet known."""
    return format_money(amount, currency) if amount is not None else "unknown"


_templates.filters["money"] = _money
_templates.filters["local_time"] = present.local_time
ZONE_COOKIE = "workspace_tz"  # the time zone staff chose in the workspace (its cookie's path is /)


router = APIRouter(tags=["staff page"])


STAFF_SEARCH = queries.SearchScope(min_length=1, limit=20, emails=True)
GRANT_SEARCH = queries.SearchScope(min_length=3, limit=5, emails=False)
NO_SEARCH = queries.SearchScope(min_length=101, limit=0, emails=False)  # longer than any query


@dataclass(frozen=True)
class Visitor:
    user: StaffUser
    grant: PaymentGrant | None = None  # None: a staff session
    grant_spent: bool = False

    @property
    def search(self) -> queries.SearchScope:
        if self.grant is None:
            return STAFF_SEARCH
        return NO_SEARCH if self.grant_spent else GRANT_SEARCH


@router.get("/payments/{payment_id}/link", response_class=HTMLResponse)
async def show(payment_id: str, request: Request, grant: str | None = None, q: str = "") -> Response:
    if grant is not None:
        return await _exchange_grant(request, payment_id, grant)
    if _signed_in_to_the_workspace(request):
        return RedirectResponse(f"/payments/{payment_id}", status_code=303, headers=_SECURITY_HEADERS)
    try:
        visitor = await _authenticate(request, payment_id)
    except ApiError as exc:
        return _error_page(exc.status, "Sign-in needed", exc.message)
    ref = PaymentRef(visitor.user.firm_id, payment_id)
    return await _render(request, ref, q[:100].strip(), visitor.search)


@router.post("/payments/{payment_id}/link", response_class=HTMLResponse)
async def link(
    payment_id: str,
    request: Request,
    matter_id: str | None = Form(None),
    contact_id: str | None = Form(None),
) -> Response:
    if not _same_origin(request):
        return _error_page(403, "Forbidden", "This form must be sent from the payment page itself.")
    try:
        visitor = await _authenticate(request, payment_id)
    except ApiError as exc:
        return _error_page(exc.status, "Sign-in needed", exc.message)
    ref = PaymentRef(visitor.user.firm_id, payment_id)
    try:
        target = TargetRequest(matter_id=matter_id or None, contact_id=contact_id or None)
        await commands.link_payment(writer_of(request), ref, target, visitor.user.user_id, visitor.grant)
    except DomainError as exc:
        return await _render(request, ref, "", visitor.search, error=exc.message, status=REFUSALS.status(exc))
    return RedirectResponse(request.url.path, status_code=303, headers=_SECURITY_HEADERS)


async def _exchange_grant(request: Request, payment_id: str, grant: str) -> Response:
    settings = settings_of(request)
    try:
        decoded = decode_payment_grant(settings.grant_keys(), grant, payment_id)
    except ApiError as exc:
        return _error_page(exc.status, "Link expired or invalid", exc.message)
    async with runtime_of(request).pool.acquire() as conn:
        first_opening = await grants.redeem(conn, decoded)
    if not first_opening:
        return _error_page(410, "Link already used", "This email link was opened before; sign in instead.")
    response = RedirectResponse(request.url.path, status_code=303, headers=_EXCHANGE_HEADERS)
    response.set_cookie(
        GRANT_COOKIE,
        grant,
        max_age=settings.page_cookie_max_age,
        path=request.url.path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def _authenticate(request: Request, payment_id: str) -> Visitor:
    """Staff by Bearer token, else the grant cookie (this payment only, opened through its email link);
    ApiError 401/403 otherwise."""
    settings = settings_of(request)
    token = bearer_token(request)
    if token is not None:
        user = decode_token(settings.staff_keys(), token)
        if "staff" not in user.roles:
            raise ApiError(403, "forbidden", "the 'staff' role is required")
        return Visitor(user)
    cookie = request.cookies.get(GRANT_COOKIE)
    if cookie is None:
        raise ApiError(
            401, "unauthorized", "Open this page from the button in the payment email, or sign in."
        )
    grant = decode_payment_grant(settings.grant_keys(), cookie, payment_id)
    async with runtime_of(request).pool.acquire() as conn:
        spent = await grants.spent(conn, grant)
    if spent is None:  # a cookie made by hand from a grant that never went through the exchange
        raise ApiError(401, "unauthorized", "Open this page from the button in the payment email.")
    return Visitor(grant.user, grant, spent)


def _signed_in_to_the_workspace(request: Request) -> bool:
    """Staff with the workspace's session (and no Bearer token or grant here) get the payment's full page."""
    cookies = request.cookies
    return SESSION_COOKIE in cookies and GRANT_COOKIE not in cookies and bearer_token(request) is None


def _same_origin(request: Request) -> bool:
    """The Origin (or else the Referer) names this server; requests with neither do not come from a form."""
    claimed = request.headers.get("origin") or _origin_of(request.headers.get("referer"))
    return claimed is None or claimed == f"{request.url.scheme}://{request.url.netloc}"


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _render(
    request: Request,
    ref: PaymentRef,
    query: str,
    scope: queries.SearchScope,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    async with runtime_of(request).pool.acquire() as conn:
        row = await queries.payment(conn, ref)
        if row is None:
            return _error_page(404, "Payment not found", "There is no such payment in your firm.")
        results = await queries.search_targets(conn, ref.firm_id, query, scope)
    payment = views.payment_detail(row, datetime.now(UTC))
    zone = present.zone(request.cookies.get(ZONE_COOKIE))
    return _html(
        "link_payment.html", status, payment=payment, query=query, results=results, error=error,
        zone=zone, zone_name=present.zone_name(zone),
    )  # fmt: skip


def _error_page(status: int, heading: str, message: str) -> Response:
    return _html("page_error.html", status, heading=heading, message=message)


def _html(template: str, status: int, **context: Any) -> Response:
    body = _templates.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)
