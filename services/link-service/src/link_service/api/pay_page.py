"""The client's pay page. Its script sends the card or bank details from the payer's browser straight to the
payment processor, which answers with a token (`pm_...`); the script then posts only that token, the amount
and the payer to the JSON pay API (`POST /v1/pay/{token}/payments`). link-service never receives a card or
bank number: the page's inputs have no `name`, so even a form sent some other way carries none of them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from paylinks_events.currencies import exponent
from paylinks_events.money import affixes, format_money, plain_amount
from paylinks_runtime.errors import ApiError

from ..config import Settings
from ..domain import echeck_authorization
from ..domain.pay_target import PayTarget
from .context import Parts
from .html import page, problem

router = APIRouter(tags=["pay page"], include_in_schema=False)

_SCRIPT = (Path(__file__).parent.parent / "static" / "pay.js").read_bytes()
# In the script's URL: a new script is a new URL, so browsers may keep one for a year.
_SCRIPT_VERSION = hashlib.sha256(_SCRIPT).hexdigest()[:16]

_HEADINGS = {404: "Payment link not found", 429: "Please slow down"}
_CLOSED = {
    "void": "This bill was cancelled, so it can no longer be paid."
    " Please contact {payee} if you have questions.",
    "paid": "This bill is already paid in full. Thank you! There is nothing left to pay.",
}
# A bill whose balance is covered by payments still being processed: a second payer must not pay it again.
_COVERED = (
    "Payments covering this bill's balance are being processed, so there is nothing left to pay."
    " If one of them fails, this page will show the amount due again. Questions: please contact {payee}."
)


@router.get("/pay/{token}", response_class=HTMLResponse)
async def pay_page(
    token: str,
    request: Request,
    parts: Parts,
    via: Annotated[str | None, Query(description="`qr` when opened from the QR code")] = None,
) -> HTMLResponse:
    try:
        parts.limit_client(request)
        target = await parts.resolve(token)
    except ApiError as exc:
        return problem(_HEADINGS.get(exc.status, "Something went wrong"), exc.message, exc.status)
    if target.status != "open":
        return _closed(target)
    if target.amount_due == 0:
        return problem("Nothing left to pay", _COVERED.format(payee=target.firm_name), 200)
    return _form(target, token, parts.settings, via_qr=via == "qr")


@router.get("/assets/pay.js")
async def pay_script() -> Response:
    return Response(
        _SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )


def _form(target: PayTarget, token: str, settings: Settings, *, via_qr: bool) -> HTMLResponse:
    currency, due, payee = target.currency, target.amount_due, target.firm_name
    prefix, suffix = affixes(currency)
    return page(
        "pay.html",
        connect_to=processor_origin(settings.processor_browser_url),
        script_url=f"/assets/pay.js?v={_SCRIPT_VERSION}",
        firm_name=payee,
        account_name=target.bank_account_name,
        kind=target.kind,
        currency=currency,
        exponent=exponent(currency),
        prefix=prefix,
        suffix=suffix,
        amount_due=format_money(due, currency) if due is not None else None,
        amount=plain_amount(due, currency) if due else "",
        placeholder=plain_amount(0, currency),
        payments_url=f"/v1/pay/{token}/payments" + ("?via=qr" if via_qr else ""),
        processor_url=settings.processor_browser_url.rstrip("/"),
        publishable_key=settings.processor_publishable_key,
        authorization=echeck_authorization.TEXT.format(payee=payee),
        authorization_version=echeck_authorization.VERSION,
    )


def processor_origin(url: str) -> str:
    """scheme://host[:port] of the processor as browsers reach it: the one other place the page talks to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"PROCESSOR_URL must be an http(s) URL, not {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _closed(target: PayTarget) -> HTMLResponse:
    heading = "This bill can no longer be paid" if target.status == "void" else "This bill is paid"
    return problem(heading, _CLOSED[target.status].format(payee=target.firm_name), 410)
