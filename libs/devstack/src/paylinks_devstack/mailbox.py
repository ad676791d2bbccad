"""Reads the SMTP sink's maildir: the emails staff would get."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

_BUTTON = re.compile(r'href="([^"]+/payments/[^"]+/link[^"]*)"')


@dataclass(frozen=True)
class Mail:
    path: Path
    message: EmailMessage

    @property
    def subject(self) -> str:
        return " ".join(str(self.message["Subject"]).split())  # folded long subjects come back unfolded

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    @property
    def button_url(self) -> str | None:
        found = _BUTTON.search(self.html)
        return found.group(1).replace("&amp;", "&") if found else None


class Mailbox:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    def all(self) -> list[Mail]:
        parser = BytesParser(policy=policy.default)
        mails = []
        for path in sorted(self.maildir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            message = parser.parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            mails.append(Mail(path, message))
        return mails

    def matching(self, *needles: str) -> list[Mail]:
        """Emails whose subject or text contains every needle."""
        return [m for m in self.all() if all(n in m.subject or n in m.text for n in needles)]

    async def wait_for(self, *needles: str, timeout: float = 60.0) -> Mail:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self.matching(*needles)
            if found:
                return found[0]
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no email with {needles!r} within {timeout}s in {self.maildir}")
            await asyncio.sleep(0.2)
