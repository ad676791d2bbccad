"""An email the SMTP server accepted just before PostgreSQL went down is not sent a second time.

The notifier sends, then marks the row `sent`. When Postgres is gone at that moment (a restart, a failover)
the process is alive and knows the email went out: it remembers it and marks it before it claims anything
again. Without that, the row's lease runs out and the same message (same Message-ID) is sent again: the
full chaos run hit that at every Postgres restart (a whole batch of up to EMAIL_BATCH_SIZE emails re-sent
each time). Only a *crash* of the notifier between SMTP's 250 and the commit still re-sends (that window
cannot be closed with SMTP).

The SMTP server here stops Postgres while it holds the first message, before it answers 250, which makes
the window certain instead of lucky. Protection: notifier/sender.py `_sent_unmarked`, marked first thing in
every round."""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from notifier.smtp_sink import MaildirHandler, SmtpSink
from paylinks_devstack.stack import free_port
from paylinks_runtime.testing import eventually

from .evidence import email_statuses, mails
from .report import ChaosReport
from .system import ChaosSystem
from .workload import ACCOUNT_CARD, PlannedPayment, open_firm, pay_body, recipient

pytestmark = pytest.mark.timeout(300)
NOT_MARKED = "email sent but not marked as sent"


class PostgresDownBeforeAccepting(MaildirHandler):
    """Stops Postgres while it holds the first message for `address`, then accepts it (250)."""

    def __init__(self, maildir: Path, address: str, stop_postgres: list[str]) -> None:
        super().__init__(maildir, out=None)
        self._address = address
        self._stop_postgres = stop_postgres
        self.tripped = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._address in envelope.rcpt_tos and not self.tripped.is_set():
            subprocess.run(self._stop_postgres, check=True, capture_output=True)  # noqa: ASYNC221 - on purpose
            self.tripped.set()
        return await super().handle_DATA(server, session, envelope)


async def test_an_email_accepted_just_before_postgres_went_down_is_not_sent_again(
    system: ChaosSystem, chaos_report: ChaosReport
) -> None:
    firm = await open_firm(system, "smtp")
    maildir = system.config.home / "mail-postgres-down"
    trap = PostgresDownBeforeAccepting(maildir, recipient(firm.firm_id), system.infra.stop_postgres_argv())
    port = free_port()
    # The replica below is the only sender: with the full profile's standing second notifier still up, it
    # took the email half the time (to the ordinary sink) and the trap never tripped.
    async with system.sole("notifier"):
        log = system.replica_log("notifier")
        logged_before = log.stat().st_size if log.exists() else 0  # earlier faults' lines are not this one
        with SmtpSink(port=port, handler=trap):
            async with system.replica("notifier", {"SMTP_PORT": str(port)}):
                payment_id = await _pay(system, firm)
                await eventually(trap.tripped.is_set, timeout=60)
                await eventually(partial(_logged, log, NOT_MARKED, logged_before), timeout=60)
                await system.infra.start_postgres()
                await eventually(partial(_all_sent, system, payment_id), timeout=120)
    chaos_report.add("faults", "postgres stopped between SMTP accept and mark sent")

    copies = Counter(m.message_id for m in mails(maildir, {recipient(firm.firm_id)}))
    chaos_report.add("checked", "emails", sum(copies.values()))
    chaos_report.add("notes", "email re-sent with the same Message-ID", sum(copies.values()) - len(copies))
    assert len(copies) == 2  # received, processed
    assert copies == dict.fromkeys(copies, 1)


async def _pay(system: ChaosSystem, firm: Any) -> str:
    plan = PlannedPayment("once-" + firm.firm_id, firm.firm_id, firm.account_token, ACCOUNT_CARD, 2_500)
    response = await firm.api.raw(
        "POST",
        "link-service",
        f"/v1/pay/{plan.token}/payments",
        public=True,
        json=await pay_body(system, plan),
        headers={"Idempotency-Key": plan.key},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["payment_id"])


def _logged(log: Path, text: str, since: int) -> bool:
    with log.open("rb") as lines:
        lines.seek(since)
        return text in lines.read().decode(errors="replace")


async def _all_sent(system: ChaosSystem, payment_id: str) -> bool:
    statuses = await email_statuses(system, payment_id)
    return len(statuses) == 2 and set(statuses) == {"sent"}
