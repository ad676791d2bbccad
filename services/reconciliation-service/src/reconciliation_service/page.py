"""The staff page behind the email button: `GET /payments/{payment_id}/link` shows the payment and lets
staff find a matter or client and link it; forms POST back to the same URL.

Who may use it: a staff Bearer token, or the signed one-payment grant from the email. The grant arrives as
`?grant=` once, is exchanged for an HttpOnly, SameSite=Strict cookie scoped to this page's path, and the
browser is redirected to the clean URL so the token does not linger in history or logs. POSTs must come
from this origin (SameSite=Strict already keeps the cookie off cross-site requests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.auth import StaffUser, bearer_token, decode_payment_grant, decode_token
from paylinks_runtime.errors import ApiError
from paylinks_runtime.money import amount_text

from . import commands, queries, views
from .api import runtime_of, writer_of
from .config import Settings
from .domain import PaymentRef, TargetRequest
from .errors import http_status

GRANT_COOKIE = "payment_link_grant"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
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
_templates.filters["money"] = lambda amount, currency: (
    f"{amount_text(amount, currency)} {currency}" if amount is not None else "unknown"
)


router = APIRouter(tags=["staff page"])


@router.get("/payments/{payment_id}/link", response_class=HTMLResponse)
async def show(payment_id: str, request: Request, grant: str | None = None, q: str = "") -> Response:
    if grant is not None:
        return _exchange_grant(request, payment_id, grant)
    try:
        staff = _authenticate(request, payment_id)
    except ApiError as exc:
        return _error_page(exc.status, "Sign-in needed", exc.message)
    return await _render(request, PaymentRef(staff.firm_id, payment_id), q[:100].strip())


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
        staff = _authenticate(request, payment_id)
    except ApiError as exc:
        return _error_page(exc.status, "Sign-in needed", exc.message)
    ref = PaymentRef(staff.firm_id, payment_id)
    try:
        target = TargetRequest(matter_id=matter_id or None, contact_id=contact_id or None)
        await commands.link_payment(writer_of(request), ref, target, staff.user_id)
    except DomainError as exc:
        return await _render(request, ref, "", error=exc.message, status=http_status(exc))
    return RedirectResponse(request.url.path, status_code=303, headers=_SECURITY_HEADERS)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _exchange_grant(request: Request, payment_id: str, grant: str) -> Response:
    settings = _settings(request)
    try:
        decode_payment_grant(settings.auth_jwt_secret, grant, payment_id)
    except ApiError as exc:
        return _error_page(exc.status, "Link expired or invalid", exc.message)
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


def _authenticate(request: Request, payment_id: str) -> StaffUser:
    """Staff by Bearer token, else the grant cookie (for this payment only); ApiError 401/403 otherwise."""
    secret = _settings(request).auth_jwt_secret
    token = bearer_token(request)
    if token is not None:
        user = decode_token(secret, token)
        if "staff" not in user.roles:
            raise ApiError(403, "forbidden", "the 'staff' role is required")
        return user
    grant = request.cookies.get(GRANT_COOKIE)
    if grant is None:
        raise ApiError(
            401, "unauthorized", "Open this page from the button in the payment email, or sign in."
        )
    return decode_payment_grant(secret, grant, payment_id)


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
    request: Request, ref: PaymentRef, query: str, *, error: str | None = None, status: int = 200
) -> Response:
    async with runtime_of(request).pool.acquire() as conn:
        row = await queries.payment(conn, ref)
        if row is None:
            return _error_page(404, "Payment not found", "There is no such payment in your firm.")
        results = await queries.search_targets(conn, ref.firm_id, query) if query else []
    payment = views.payment_detail(row, datetime.now(UTC))
    return _html("link_payment.html", status, payment=payment, query=query, results=results, error=error)


def _error_page(status: int, heading: str, message: str) -> Response:
    return _html("page_error.html", status, heading=heading, message=message)


def _html(template: str, status: int, **context: Any) -> Response:
    body = _templates.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)
