"""Rendering of the pay pages, with the headers a capability URL needs: a strict CSP (no scripts at all, the
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


def content_security_policy(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    )


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _TEMPLATES.get_template(template).render(nonce=nonce, **context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": content_security_policy(nonce),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        },
    )


def problem(heading: str, message: str, status_code: int) -> HTMLResponse:
    return page("problem.html", status_code, heading=heading, message=message)
