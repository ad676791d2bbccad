"""The client's pay page: a plain HTML form (no script needed) that posts to the same intake as the API."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.errors import ApiError
from paylinks_runtime.money import amount_text, format_money

from ..domain.pay_target import PayTarget
from ..token_redaction import redact_token_from_trace
from .context import Parts, status_for
from .html import page, problem
from .pay_form import ParsedForm, parse

router = APIRouter(
    tags=["pay page"], include_in_schema=False, dependencies=[Depends(redact_token_from_trace)]
)

_HEADINGS = {404: "Payment link not found", 429: "Please slow down"}
_CLOSED = {
    "void": "This bill was cancelled, so it can no longer be paid."
    " Please contact {payee} if you have questions.",
    "paid": "This bill is already paid in full. Thank you! There is nothing left to pay.",
}
_TIMING = {
    "card": "Card payments are usually confirmed within minutes.",
    "echeck": "eCheck payments take a few business days to clear.",
}


@router.get("/pay/{token}", response_class=HTMLResponse)
async def pay_page(token: str, request: Request, parts: Parts) -> HTMLResponse:
    opened = await _open(token, request, parts, attempt=False)
    if isinstance(opened, HTMLResponse):
        return opened
    if opened.status != "open":
        return _closed(opened)
    due = opened.amount_due
    return _form(opened, {"amount": amount_text(due, opened.currency, grouping=False) if due else ""}, [])


@router.post("/pay/{token}", response_class=HTMLResponse)
async def submit_payment(token: str, request: Request, parts: Parts, via: str | None = None) -> HTMLResponse:
    opened = await _open(token, request, parts, attempt=True)
    if isinstance(opened, HTMLResponse):
        return opened
    fields = {name: value for name, value in (await request.form()).items() if isinstance(value, str)}
    form = parse(fields)
    if form.payment is None:
        return _form(opened, form.values, form.errors, 422)
    try:
        request_ = form.payment.to_request(via_qr=via == "qr")
        payment_id = await parts.intake.pay(opened.link_id, request_, fields.get("idempotency_key") or None)
    except DomainError as refusal:
        return _refused(opened, form, refusal)
    return page(
        "done.html",
        payer=form.payment.payer.name,
        payee=opened.bank_account_name,
        payment_id=payment_id,
        amount=format_money(form.payment.amount, opened.currency),
        timing=_TIMING[form.payment.method],
    )


async def _open(token: str, request: Request, parts: Parts, *, attempt: bool) -> PayTarget | HTMLResponse:
    try:
        parts.limit_client(request)
        target = await parts.resolve(token)
        if attempt:
            parts.limit_attempts(target)
        return target
    except ApiError as exc:
        return problem(_HEADINGS.get(exc.status, "Something went wrong"), exc.message, exc.status)


def _form(target: PayTarget, values: dict[str, str], errors: list[str], status: int = 200) -> HTMLResponse:
    """The form posts back to its own URL (a `?via=qr` carries over), with a fresh Idempotency-Key."""
    due = target.amount_due
    return page(
        "pay.html",
        status,
        payee=target.bank_account_name,
        currency=target.currency,
        errors=errors,
        amount_due=format_money(due, target.currency) if due is not None else None,
        values={name: values.get(name, "") for name in ("amount", "name", "email", "reference", "method")},
        idempotency_key=secrets.token_urlsafe(16),
    )


def _closed(target: PayTarget) -> HTMLResponse:
    heading = "This bill can no longer be paid" if target.status == "void" else "This bill is paid"
    return problem(heading, _CLOSED[target.status].format(payee=target.bank_account_name), 410)


def _refused(target: PayTarget, form: ParsedForm, refusal: DomainError) -> HTMLResponse:
    status = status_for(refusal)
    if status == 410:
        return _closed(target)
    return _form(target, form.values, [refusal.message], status)
