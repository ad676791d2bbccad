"""Rendering of the pay pages, with the headers a capability URL needs: a strict CSP (no inline script; the
one inline style allowed by nonce), no referrer (the token must not leak to other sites), no caching."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def content_security_policy(nonce: str, connect_to: str | None = None) -> str:
    """Without `connect_to`, no script at all. With it (the pay page): only this service's own script files,
    which may send requests only to this service and to `connect_to` (the payment processor's origin)."""
    script = f" script-src 'self'; connect-src 'self' {connect_to};" if connect_to else ""
    return (
        f"default-src 'none';{script} style-src 'nonce-{nonce}'; img-src 'self'; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    )


def page(
    template: str, status_code: int = 200, *, connect_to: str | None = None, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _TEMPLATES.get_template(template).render(nonce=nonce, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": content_security_policy(nonce, connect_to),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        },
    )


def problem(heading: str, message: str, status_code: int) -> HTMLResponse:
    return page("problem.html", status_code, heading=heading, message=message)
