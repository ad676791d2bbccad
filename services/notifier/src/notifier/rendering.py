"""A Notice as the two parts of an email, from jinja2 templates. The HTML part is autoescaped: payer names,
references and emails are typed by strangers on the pay page."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .notices import Notice

_TEMPLATES = Environment(
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
        subject=notice.subject,
        text=_TEMPLATES.get_template("notice.txt").render(notice=notice),
        html=_TEMPLATES.get_template("notice.html").render(notice=notice),
    )
