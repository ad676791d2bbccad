import io
import json
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from notifier.smtp_sink import SmtpSink, free_port

pytestmark = pytest.mark.unit


def _message(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@paylinks.example", to, "Payment received — Zoë"
    message["Message-ID"] = "<m1@paylinks.example>"
    message.set_content("hello")
    return message


async def test_sink_stores_an_eml_file_and_prints_one_json_line(tmp_path: Path) -> None:
    out, port = io.StringIO(), free_port()
    with SmtpSink(port=port, maildir=tmp_path, out=out) as sink:
        await aiosmtplib.send(_message("staff@firm.example"), hostname="127.0.0.1", port=port)
    [line] = out.getvalue().splitlines()
    announced = json.loads(line)
    assert announced["to"] == ["staff@firm.example"]
    assert announced["subject"] == "Payment received — Zoë"
    [(name, content)] = _stored(tmp_path)
    assert name == announced["file"]
    assert b"hello" in content
    assert sink.messages[0]["message-id"] == "<m1@paylinks.example>"


def _stored(maildir: Path) -> list[tuple[str, bytes]]:
    return [(str(path), path.read_bytes()) for path in maildir.glob("*.eml")]


async def test_sink_refuses_the_addresses_it_is_told_to(tmp_path: Path) -> None:
    port = free_port()
    with SmtpSink(port=port, maildir=tmp_path, out=None) as sink:
        sink.refuse("bounce@firm.example")
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await aiosmtplib.send(_message("bounce@firm.example"), hostname="127.0.0.1", port=port)
        sink.refuse(None)
        await aiosmtplib.send(_message("bounce@firm.example"), hostname="127.0.0.1", port=port)
    assert len(sink.messages) == 1
