"""A real SMTP server that keeps what it receives: for `make up`/`make demo` and end-to-end tests.

Each message is stored as a .eml file in the maildir and announced as one JSON line on stdout:
{"to": [...], "subject": "...", "message_id": "...", "file": "..."}.

    paylinks-smtp-sink --host 127.0.0.1 --port 1025 --maildir .local/mail

In tests: `with SmtpSink(port=free_port(), maildir=tmp) as sink: ... sink.messages` (parsed messages).
Needs aiosmtpd (a dev dependency of the workspace).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.controller import Controller

_PARSER = BytesParser(policy=policy.default)


class MaildirHandler:
    """aiosmtpd handler: store, announce and remember every message it accepts."""

    def __init__(self, maildir: Path, out: TextIO | None = sys.stdout) -> None:
        self.maildir = maildir
        self.out = out
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()  # addresses answered with 550, to test failing deliveries
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 Mailbox unavailable (refused by the sink)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        message = _PARSER.parsebytes(raw)
        assert isinstance(message, EmailMessage)
        path = self.maildir / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"  # ls lists them in order
        path.write_bytes(raw)
        with self._lock:
            self.messages.append(message)
        self._announce(envelope.rcpt_tos, message, path)
        return "250 Message accepted for delivery"

    def _announce(self, recipients: list[str], message: EmailMessage, path: Path) -> None:
        if self.out is not None:
            line = {
                "to": recipients,
                "subject": str(message["subject"]).strip(),
                "message_id": message["message-id"],
                "file": str(path),
            }
            print(json.dumps(line, ensure_ascii=False), file=self.out, flush=True)


class SmtpSink:
    """The sink as a context manager (a thread runs the SMTP server); stop() and start() again at will."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1025,
        maildir: Path | str = "mail",
        out: TextIO | None = sys.stdout,
        handler: MaildirHandler | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.handler = handler or MaildirHandler(Path(maildir), out)
        self.handler.maildir.mkdir(parents=True, exist_ok=True)
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.handler.messages)

    def refuse(self, address: str | None) -> None:
        """Refuse mail to `address` from now on (None: accept everybody again)."""
        self.handler.refused = {address} if address else set()

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="paylinks-smtp-sink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", default=".local/mail", help="folder for the .eml files")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with SmtpSink(args.host, args.port, args.maildir):
        print(
            f"paylinks-smtp-sink: listening on {args.host}:{args.port}, maildir {args.maildir}",
            file=sys.stderr,
        )
        stop.wait()
