"""The staff workspace: server-rendered pages on the read model (payments, one payment, deposits, trust
reconciliation), their forms (link, unlink, relink, refund), and the sign-in. No script: every action is a
same-origin form with a CSRF token; the CSP allows only this service's stylesheet."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paylinks_events.currencies import exponent
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.errors import ApiError

from .. import commands, cursor, exports, money_api, money_queries, queries, views
from ..dependencies import runtime_of, settings_of, writer_of
from ..domain import PaymentRef, TargetRequest
from ..errors import REFUSALS
from ..page import STAFF_SEARCH
from . import listing, present, session
from .link_service import request_refund

TZ_COOKIE = "workspace_tz"
PAGE_SIZE = 50
_HERE = Path(__file__).parent
_STYLESHEET = (_HERE / "static" / "workspace.css").read_bytes()
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send `Origin: null` on our own forms
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# Outcomes of a form, shown after its redirect (a fixed vocabulary: nothing a link can inject).
NOTICES = {
    "linked": "Linked.",
    "unlinked": "Unlinked.",
    "relinked": "Linked to the new matter or contact.",
    "refund_requested": "Refund requested. It shows here once the processor confirms it.",
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
_templates.filters["money"] = present.money
_templates.filters["waiting"] = present.waiting
_templates.filters["day"] = present.day
_templates.globals["TAGS"] = present.TAGS
_templates.globals["EVENTS"] = present.EVENTS

router = APIRouter(tags=["staff workspace"], include_in_schema=False)


# --- sign-in ----------------------------------------------------------------------------------------------


@router.get("/workspace.css")
async def stylesheet() -> Response:
    return Response(_STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=300"})


@router.get("/dev/sign-in", response_class=HTMLResponse)
async def dev_sign_in_form(request: Request, firm_id: str = "", next: str = "/payments") -> Response:
    if settings_of(request).paylinks_env == "production":
        return _error(request, 404, "Not here", "There is no development sign-in in production.")
    return _html(request, "sign_in.html", 200, None, firm_id=firm_id, next=_local(next))


@router.post("/dev/sign-in")
async def dev_sign_in(
    request: Request,
    firm_id: Annotated[str, Form(min_length=1, max_length=200)],
    user_id: Annotated[str, Form(min_length=1, max_length=200)],
    role: Annotated[str, Form(pattern="^(staff|admin)$")] = "staff",
    next: Annotated[str, Form(max_length=2000)] = "/payments",
) -> Response:
    settings = settings_of(request)
    if settings.paylinks_env == "production":
        return _error(request, 404, "Not here", "There is no development sign-in in production.")
    if not session.same_origin(request):
        return _error(request, 403, "Forbidden", "This form must be sent from the sign-in page itself.")
    roles = ["staff", "admin"] if role == "admin" else ["staff"]
    token = session.development_session(settings.staff_keys(), firm_id.strip(), user_id.strip(), roles)
    response = RedirectResponse(_local(next), status_code=303, headers=_HEADERS)
    response.set_cookie(
        session.SESSION_COOKIE,
        token,
        max_age=int(session.SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    refused = _refuse_post(request, csrf_token)
    if isinstance(refused, Response):
        return refused
    response = RedirectResponse("/dev/sign-in", status_code=303, headers=_HEADERS)
    response.delete_cookie(session.SESSION_COOKIE, path="/")
    return response


# --- payments ---------------------------------------------------------------------------------------------


@router.get("/payments", response_class=HTMLResponse)
async def payments(
    request: Request,
    status: str = "unlinked",
    bank_account_id: str = "",
    method: str = "",
    received_from: Annotated[str, Query(alias="from")] = "",
    received_to: Annotated[str, Query(alias="to")] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    before: str = "",
    tz: str | None = None,
) -> Response:
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    zone = _zone(request, tz)
    try:
        position = cursor.decode(before) if before else None
        filters = listing.PaymentFilter(
            firm_id=who.user.firm_id,
            status=status if status in listing.STATUS_CONDITIONS else "unlinked",
            bank_account_id=bank_account_id or None,
            method=method if method in ("card", "echeck") else None,
            received_from=date.fromisoformat(received_from) if received_from else None,
            received_to=date.fromisoformat(received_to) if received_to else None,
            zone=present.zone_name(zone),
            search=q.strip(),
        )
    except ValueError:
        return _error(
            request, 422, "Cannot read the filters", "Dates are YYYY-MM-DD; start again from the list."
        )
    async with runtime_of(request).pool.acquire() as conn:
        rows = await listing.payments_page(conn, filters, position, PAGE_SIZE + 1)
        accounts = await listing.bank_accounts(conn, who.user.firm_id)
        totals = await queries.totals(conn, who.user.firm_id)
    now = datetime.now(UTC)
    items = [_listed(row, now, zone) for row in rows[:PAGE_SIZE]]
    older = None
    if len(rows) > PAGE_SIZE:
        last = rows[PAGE_SIZE - 1]
        older = cursor.encode(cursor.Position(last["received_at"], last["payment_id"]))
    query = {
        "status": filters.status, "bank_account_id": bank_account_id, "method": method,
        "from": received_from, "to": received_to, "q": q,
    }  # fmt: skip
    return _html(
        request, "payments.html", 200, who, zone=zone, items=items, accounts=accounts, filters=query,
        totals=[views.total_item(t, now) for t in totals if t["status"] in WAITING],
        older_url="/payments?" + urlencode(query | {"before": older}) if older else None,
        newest_url="/payments?" + urlencode(query) if before else None,
        statuses={"unlinked": "unlinked (to do)", "all": "all"} | present.TAGS,
    )  # fmt: skip


# the statuses of money that waits for staff to link it (the queue and its totals)
WAITING = ("pending", "ready")


def _listed(row: Any, now: datetime, zone: tzinfo) -> dict[str, Any]:
    payment = views.payment_detail(row, now)
    payment["tags"] = present.tags(payment)
    payment["received_local"] = present.local_time(payment["received_at"], zone)
    return payment


@router.get("/payments/{payment_id}", response_class=HTMLResponse)
async def payment_page(
    request: Request, payment_id: str, q: Annotated[str, Query(max_length=100)] = "", done: str = "",
    tz: str | None = None,
) -> Response:  # fmt: skip
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    return await _payment(request, who, payment_id, _zone(request, tz), q.strip(), notice=NOTICES.get(done))


async def _payment(
    request: Request, who: session.Session, payment_id: str, zone: tzinfo, query: str = "", *,
    notice: str | None = None, error: str | None = None, status: int = 200,
) -> Response:  # fmt: skip
    ref = PaymentRef(who.user.firm_id, payment_id)
    async with runtime_of(request).pool.acquire() as conn:
        row = await queries.payment(conn, ref)
        if row is None:
            return _error(request, 404, "Payment not found", "There is no such payment in your firm.")
        history = await queries.history(conn, ref)
        committed = await listing.committed_to_refunds(conn, ref.firm_id, payment_id)
        deposit = await listing.deposit(conn, ref.firm_id, row["payout_id"]) if row["payout_id"] else None
        results = await queries.search_targets(conn, ref.firm_id, query, STAFF_SEARCH) if query else []
    payment = _listed(row, datetime.now(UTC), zone)
    events = [views.history_item(h) | {"at_local": present.local_time(h["at"], zone)} for h in history]
    return _html(
        request, "payment.html", status, who, zone=zone, payment=payment, history=events, deposit=deposit,
        query=query, results=results, notice=notice, error=error,
        refundable=_refundable(payment, committed), idempotency_key=str(uuid.uuid4()),
        when={k: present.local_time(payment[k], zone) for k in ("received_at", "processed_at", "linked_at")},
    )  # fmt: skip


def _refundable(payment: dict[str, Any], committed: int) -> int:
    """What link-service would still refund: processed, less refunds succeeded or pending, returns and
    chargebacks (link-service decides; this only sizes the form)."""
    if payment["processed_at"] is None or payment["status"] == "failed" or payment["returned"] is not None:
        return 0
    dispute = payment["dispute"]
    lost = dispute["amount"] if dispute is not None and dispute["status"] == "lost" else 0
    return max(0, (payment["amount"] or 0) - committed - lost)


@router.post("/payments/{payment_id}/actions/link")
async def link(
    request: Request, payment_id: str, csrf_token: Annotated[str | None, Form()] = None,
    matter_id: Annotated[str | None, Form()] = None, contact_id: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    who = _refuse_post(request, csrf_token)
    if isinstance(who, Response):
        return who
    ref = PaymentRef(who.user.firm_id, payment_id)
    try:
        target = TargetRequest(matter_id=matter_id or None, contact_id=contact_id or None)
        await commands.link_payment(writer_of(request), ref, target, who.user.user_id)
    except DomainError as exc:
        return await _payment(
            request, who, payment_id, _zone(request), error=exc.message, status=REFUSALS.status(exc)
        )
    return _done(payment_id, "linked")


@router.post("/payments/{payment_id}/actions/unlink")
async def unlink(
    request: Request, payment_id: str, csrf_token: Annotated[str | None, Form()] = None,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:  # fmt: skip
    who = _refuse_post(request, csrf_token)
    if isinstance(who, Response):
        return who
    if not reason.strip():
        return await _payment(
            request, who, payment_id, _zone(request), error="Say why it is unlinked.", status=422
        )
    try:
        await commands.unlink_payment(
            writer_of(request), PaymentRef(who.user.firm_id, payment_id), reason.strip(), who.user.user_id
        )
    except DomainError as exc:
        return await _payment(
            request, who, payment_id, _zone(request), error=exc.message, status=REFUSALS.status(exc)
        )
    return _done(payment_id, "unlinked")


@router.post("/payments/{payment_id}/actions/relink")
async def relink(
    request: Request, payment_id: str, csrf_token: Annotated[str | None, Form()] = None,
    target: Annotated[str, Form(max_length=300)] = "", reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:  # fmt: skip
    """Unlink with the reason, then link to the chosen matter or contact (`matter:<id>` / `contact:<id>`).
    The target is checked first, so a bad choice leaves the link as it was."""
    who = _refuse_post(request, csrf_token)
    if isinstance(who, Response):
        return who
    zone, ref = _zone(request), PaymentRef(who.user.firm_id, payment_id)
    chosen = _chosen_target(target)
    async with runtime_of(request).pool.acquire() as conn:
        known = chosen is not None and await queries.resolve_target(conn, ref.firm_id, chosen) is not None
    if chosen is None or not known or not reason.strip():
        error = "Choose the matter or contact to link instead, and say why."
        return await _payment(request, who, payment_id, zone, error=error, status=422)
    try:
        await commands.unlink_payment(writer_of(request), ref, reason.strip(), who.user.user_id)
        await commands.link_payment(writer_of(request), ref, chosen, who.user.user_id)
    except DomainError as exc:
        return await _payment(request, who, payment_id, zone, error=exc.message, status=REFUSALS.status(exc))
    return _done(payment_id, "relinked")


def _chosen_target(value: str) -> TargetRequest | None:
    """`matter:<id>` or `contact:<id>` from the relink form's radio buttons."""
    kind, _, target_id = value.partition(":")
    if not target_id or kind not in ("matter", "contact"):
        return None
    return TargetRequest(
        matter_id=target_id if kind == "matter" else None, contact_id=target_id if kind == "contact" else None
    )


@router.post("/payments/{payment_id}/actions/refund")
async def refund(
    request: Request, payment_id: str, csrf_token: Annotated[str | None, Form()] = None,
    amount: Annotated[str, Form(max_length=30)] = "", reason: Annotated[str, Form(max_length=500)] = "",
    idempotency_key: Annotated[str, Form(min_length=1, max_length=100)] = "",
) -> Response:  # fmt: skip
    who = _refuse_post(request, csrf_token)
    if isinstance(who, Response):
        return who
    zone = _zone(request)
    if not who.is_admin:
        return _error(request, 403, "Admins only", "Only the firm's admins can refund a payment.")
    async with runtime_of(request).pool.acquire() as conn:
        row = await queries.payment(conn, PaymentRef(who.user.firm_id, payment_id))
    if row is None:
        return _error(request, 404, "Payment not found", "There is no such payment in your firm.")
    minor = present.minor_units(amount, exponent(row["currency"] or "USD"))
    if not minor or not reason.strip():
        return await _payment(
            request, who, payment_id, zone, status=422,
            error="Give the amount to refund (more than zero, as money: 12.50) and a reason.",
        )  # fmt: skip
    outcome = await request_refund(
        settings_of(request).link_service_url,
        who.credential,
        payment_id,
        minor,
        reason.strip(),
        idempotency_key,
    )
    if not outcome.accepted:
        return await _payment(request, who, payment_id, zone, error=outcome.message, status=422)
    return _done(payment_id, "refund_requested")


def _done(payment_id: str, notice: str) -> Response:
    return RedirectResponse(f"/payments/{payment_id}?done={notice}", status_code=303, headers=_HEADERS)


# --- deposits and the trust reconciliation --------------------------------------------------------------


@router.get("/deposits", response_class=HTMLResponse)
async def deposits(
    request: Request, bank_account_id: str = "",
    received_from: Annotated[date | None, Query(alias="from")] = None,
    received_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:  # fmt: skip
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    firm = who.user.firm_id
    async with runtime_of(request).pool.acquire() as conn:
        rows = await money_queries.deposits(conn, firm, bank_account_id or None, received_from, received_to)
        accounts = await listing.bank_accounts(conn, firm)
    filters = {"bank_account_id": bank_account_id, "from": received_from or "", "to": received_to or ""}
    query = {name: value for name, value in filters.items() if value}
    return _html(
        request, "deposits.html", 200, who, accounts=accounts,
        deposits=[exports.deposit_item(r) for r in rows], filters=filters,
        csv_query=urlencode(query), zone=_zone(request),
    )  # fmt: skip


@router.get("/deposits.csv")
async def deposits_csv(
    request: Request, bank_account_id: str = "",
    received_from: Annotated[date | None, Query(alias="from")] = None,
    received_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:  # fmt: skip
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    async with runtime_of(request).pool.acquire() as conn:
        rows = await money_queries.deposits(
            conn, who.user.firm_id, bank_account_id or None, received_from, received_to
        )
    return money_api.csv_response(exports.deposits_csv(rows), "deposits")


@router.get("/payments.csv")
async def payments_csv(
    request: Request,
    received_from: Annotated[date | None, Query(alias="from")] = None,
    received_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    async with runtime_of(request).pool.acquire() as conn:
        rows = await money_queries.payments_export(conn, who.user.firm_id, received_from, received_to)
    return money_api.csv_response(exports.payments_csv(rows), "payments")


@router.get("/trust-reconciliation", response_class=HTMLResponse)
async def trust_reconciliation(request: Request, bank_account_id: str = "", as_of: str = "") -> Response:
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    zone = _zone(request)
    async with runtime_of(request).pool.acquire() as conn:
        trust_accounts = [
            a for a in await listing.bank_accounts(conn, who.user.firm_id) if a["kind"] == "trust"
        ]
        chosen = bank_account_id or (trust_accounts[0]["bank_account_id"] if trust_accounts else "")
        moment = _as_of(as_of, zone)
        result = None
        if chosen and moment is not None:
            try:
                result = await money_api.trust_reconciliation(who.user, conn, chosen, moment)
            except ApiError as exc:
                return _error(request, exc.status, "Cannot reconcile this account", exc.message)
        ledgers = result["client_ledgers"] if result else []
        matters = [c["matter_id"] for c in ledgers if c["matter_id"]]
        labels = await listing.names(conn, who.user.firm_id, matters, [c["contact_id"] for c in ledgers])
    return _html(
        request, "trust.html", 200, who, accounts=trust_accounts, chosen=chosen, result=result, zone=zone,
        labels=labels,
        as_of=as_of, as_of_local=present.local_time(moment, zone) if moment else "",
    )  # fmt: skip


def _as_of(text: str, zone: tzinfo) -> datetime | None:
    """A `datetime-local` value in the staff member's zone; now when empty; None when unreadable."""
    if not text:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        return None


# --- plumbing ---------------------------------------------------------------------------------------------


def _signed_in(request: Request) -> session.Session | Response:
    try:
        return session.current(request, settings_of(request).staff_keys())
    except ApiError as exc:
        if exc.status == 401 and settings_of(request).paylinks_env != "production":
            target = urlencode(
                {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
            )
            return RedirectResponse(f"/dev/sign-in?{target}", status_code=303, headers=_HEADERS)
        return _error(request, exc.status, "Sign-in needed", exc.message)


def _refuse_post(request: Request, csrf_token: str | None) -> session.Session | Response:
    """The session of a POST that came from our own page with its CSRF token; else the error page (403)."""
    if not session.same_origin(request):
        return _error(request, 403, "Forbidden", "This form must be sent from the workspace itself.")
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    if not session.csrf_valid(settings_of(request).staff_keys(), who, csrf_token):
        return _error(
            request, 403, "Forbidden", "This form is out of date or not ours. Reload the page and retry."
        )
    return who


def _zone(request: Request, chosen: str | None = None) -> tzinfo:
    return present.zone(chosen if chosen is not None else request.cookies.get(TZ_COOKIE))


def _local(path: str) -> str:
    """Only a path of this site as a redirect target (no `//host`, no scheme)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/payments"


def _error(request: Request, status: int, heading: str, message: str) -> Response:
    return _html(request, "error.html", status, None, heading=heading, message=message)


def _html(
    request: Request, template: str, status: int, who: session.Session | None, **context: Any
) -> Response:
    keys = settings_of(request).staff_keys()
    zone: tzinfo = context.pop("zone", None) or _zone(request)
    body = _templates.get_template(template).render(
        who=who, csrf=session.csrf_token(keys, who) if who else "", path=request.url.path,
        zone_name=present.zone_name(zone), development=settings_of(request).paylinks_env != "production",
        **context,
    )  # fmt: skip
    response = HTMLResponse(body, status_code=status, headers=_HEADERS)
    chosen = request.query_params.get("tz")
    if chosen is not None:  # remembered for the next pages: the zone as understood (UTC if unknown)
        remembered = present.zone_name(present.zone(chosen))
        response.set_cookie(TZ_COOKIE, remembered, max_age=365 * 86400, path="/", samesite="strict")
    return response
