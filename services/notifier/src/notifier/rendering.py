"""A Notice as the two parts of an email, from jinja2 templates. The HTML part is autoescaped: payer names,
references and emails are typed by strangers on the pay page.

Invisible format characters (Unicode category Cf: bidi overrides, zero-width spaces and joiners, the BOM)
are shown as their code point, here and nowhere else: in a subject or a body a right-to-left override turns
"Smith exe.pdf" into something else, and zero-width characters make two names look the same.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .notices import Notice


def visible_format_characters(text: str) -> str:
    """Each Unicode format character (category Cf) as "[U+XXXX]"; everything else as it is."""
    if text.isascii():
        return text
    return "".join(f"[U+{ord(c):04X}]" if unicodedata.category(c) == "Cf" else c for c in text)


def _shown(value: Any) -> Any:
    return visible_format_characters(value) if isinstance(value, str) else value


_TEMPLATES = Environment(
    finalize=_shown,  # every value a template prints, in both parts
    loader=PackageLoader("notifier", "templates"),
    # Escaped unless it is the plain-text part: a new template is safe by default.
    autoescape=select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",), default=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(notice: Notice) -> RenderedEmail:
    return RenderedEmail(
        subject=visible_format_characters(notice.subject),
        text=_TEMPLATES.get_template("notice.txt").render(notice=notice),
        html=_TEMPLATES.get_template("notice.html").render(notice=notice),
    )
