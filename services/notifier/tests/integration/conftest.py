"""The notifier on the real broker and database, sending to a real SMTP server (the project's sink) on a
free port. Each test works for its own firm: events are published here with a plain producer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, cast

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from notifier.app import create_app
from notifier.config import Settings
from notifier.reactions import REACTIONS
from notifier.smtp_sink import SmtpSink, free_port
from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    BillPaymentApplied,
    Envelope,
    Event,
    FirmProfileUpdated,
    Payer,
    PaymentFailed,
    PaymentProcessed,
    PaymentReceived,
    to_record,
)
from paylinks_runtime.testing import (
    BOOTSTRAP,
    auth_header,
    drop_schema,
    eventually,
    running_app,
    start_at_the_end,
    unique,
)

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def settings() -> Settings:
    """Consumer groups of its own that start at the end of the shared topics (not their whole history)."""
    settings = Settings(
        db_schema=unique("t_notifier"),
        consumer_group_prefix=unique("t") + "-",
        smtp_port=free_port(),
        email_retry_base_seconds=0.2,
        email_retry_max_seconds=1.0,
        email_poll_seconds=0.1,
        email_context_wait_seconds=300,  # longer than any wait here: only arriving names release an email
        reminder_poll_seconds=0.2,
    )
    await start_at_the_end(settings.consumer_group_prefix + REACTIONS.name, REACTIONS.topics)
    return settings


@pytest.fixture(scope="module")
def sink(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    with SmtpSink(port=settings.smtp_port, maildir=tmp_path_factory.mktemp("mail"), out=None) as sink:
        yield sink


@pytest.fixture(scope="module")
async def notifier(
    settings: Settings, sink: SmtpSink
) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool]]:
    app = create_app(settings)
    async with running_app(app) as client:
        yield client, app.state.runtime.pool
    await drop_schema(settings.db_schema)


@pytest.fixture(scope="module")
def client(notifier: tuple[httpx.AsyncClient, asyncpg.Pool]) -> httpx.AsyncClient:
    return notifier[0]


@pytest.fixture(scope="module")
def pool(notifier: tuple[httpx.AsyncClient, asyncpg.Pool]) -> asyncpg.Pool:
    """The notifier's own database, to see what it learnt (no API shows every lookup)."""
    return notifier[1]


@pytest.fixture(scope="module")
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    yield producer
    await producer.stop()


@dataclass
class Firm:
    """One test's firm: publishes its events, configures its recipients, reads its mail."""

    firm_id: str
    client: httpx.AsyncClient
    sink: SmtpSink
    producer: AIOKafkaProducer

    def address(self, who: str = "office") -> str:
        return f"{who}-{self.firm_id}@firm.example"

    async def publish(self, *events: Event | Envelope) -> list[Envelope]:
        envelopes = [
            e if isinstance(e, Envelope) else Envelope(event=e, source="/notifier-tests") for e in events
        ]
        for envelope in envelopes:
            record = to_record(envelope)
            await self.producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        return envelopes

    @property
    def display_name(self) -> str:
        return f"Hale & Partners {self.firm_id}"

    async def set_recipients(self, who: str = "office", bank_account_id: str | None = None) -> None:
        """Also publishes the firm's profile: every email names the firm, and waits for its name."""
        await self.publish(FirmProfileUpdated(firm_id=self.firm_id, display_name=self.display_name))
        body: dict[str, Any] = {"emails": [self.address(who)], "bank_account_id": bank_account_id}

        async def accepted() -> bool:  # a bank account is known once its event was consumed
            response = await self.client.put("/v1/notification-recipients", json=body, headers=self.admin)
            assert response.status_code in (200, 404), response.text
            return response.status_code == 200

        await eventually(accepted, timeout=30)

    async def bank_account(self, name: str = "IOLTA Trust") -> str:
        bank_account_id = str(uuid.uuid4())
        await self.publish(
            BankAccountRegistered(
                firm_id=self.firm_id, bank_account_id=bank_account_id, name=name, kind="trust"
            )
        )
        return bank_account_id

    def mail(self, who: str = "office") -> list[EmailMessage]:
        return [m for m in self.sink.messages if self.address(who) in str(m["to"])]

    async def wait_for_mail(self, count: int, who: str = "office") -> list[EmailMessage]:
        await eventually(lambda: len(self.mail(who)) >= count, timeout=40)
        return self.mail(who)

    async def emails(self, payment_id: str, notice: str | None = "staff") -> list[dict[str, Any]]:
        """The payment's outgoing emails for whom `notice` says (None: all, the payer's included)."""
        response = await self.client.get("/v1/emails", params={"payment_id": payment_id}, headers=self.staff)
        assert response.status_code == 200, response.text
        return [e for e in response.json()["items"] if notice in (None, e["notice"])]

    async def sent_emails(self, payment_id: str, notice: str | None = "staff") -> list[dict[str, Any]]:
        """The payment's emails once each is marked sent: the SMTP server may have a message a moment before
        the sender marks its row, so a test that saw the mail waits for the mark too."""

        async def all_marked_sent() -> list[dict[str, Any]]:
            rows = await self.emails(payment_id, notice)
            return rows if rows and all(r["status"] == "sent" for r in rows) else []

        return cast(list[dict[str, Any]], await eventually(all_marked_sent))

    @property
    def admin(self) -> dict[str, str]:
        return auth_header(self.firm_id, roles=("staff", "admin"))

    @property
    def staff(self) -> dict[str, str]:
        return auth_header(self.firm_id)

    # --- reading mail --------------------------------------------------------------------------------------

    @staticmethod
    def html(message: EmailMessage) -> str:
        return _part(message, "html")

    @staticmethod
    def text(message: EmailMessage) -> str:
        return _part(message, "plain")

    @staticmethod
    def one(messages: list[EmailMessage], subject_prefix: str) -> EmailMessage:
        matches = [m for m in messages if Firm.subject(m).startswith(subject_prefix)]
        assert len(matches) == 1, [Firm.subject(m) for m in messages]
        return matches[0]

    @staticmethod
    def subject(message: EmailMessage) -> str:
        """Unfolded: Python folds a long ASCII subject onto its own continuation line (a leading space)."""
        return str(message["subject"]).strip()

    # --- event builders ------------------------------------------------------------------------------------

    def received(self, bank_account_id: str, *, payer: str = "Dana Client", **fields: Any) -> PaymentReceived:
        values: dict[str, Any] = {
            "payment_id": str(uuid.uuid4()),
            "source": "bank_account_link",
            "amount": 12500,
            "method": "card",
            "payer": Payer(name=payer, email=self.address("payer")),
            "received_at": NOW,
            **fields,
        }
        return PaymentReceived(firm_id=self.firm_id, bank_account_id=bank_account_id, **values)

    def processed(self, payment: PaymentReceived) -> PaymentProcessed:
        return PaymentProcessed(
            firm_id=self.firm_id,
            payment_id=payment.payment_id,
            bank_account_id=payment.bank_account_id,
            bill_id=payment.bill_id,
            amount=payment.amount,
            method=payment.method,
            processed_at=NOW,
        )

    def failed(self, payment: PaymentReceived, reason: str) -> PaymentFailed:
        return PaymentFailed(
            firm_id=self.firm_id, payment_id=payment.payment_id, reason=reason, failed_at=NOW
        )

    def bill(self, number: str, amount: int = 12500) -> BillIssued:
        return BillIssued(
            firm_id=self.firm_id,
            bill_id=str(uuid.uuid4()),
            matter_id="m-1",
            contact_id="c-1",
            amount=amount,
            issued_at=NOW,
            bill_number=number,
        )

    def applied(self, payment: PaymentReceived, balance: int) -> BillPaymentApplied:
        assert payment.bill_id is not None
        return BillPaymentApplied(
            firm_id=self.firm_id,
            bill_id=payment.bill_id,
            payment_id=payment.payment_id,
            amount=payment.amount,
            balance=balance,
            applied_at=NOW,
        )


@pytest.fixture
def firm_factory(client: httpx.AsyncClient, sink: SmtpSink, producer: AIOKafkaProducer) -> Callable[[], Firm]:
    return lambda: Firm(unique("firm"), client, sink, producer)


@pytest.fixture
def firm(firm_factory: Callable[[], Firm]) -> Firm:
    return firm_factory()


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no {subtype} part"
    return str(part.get_content())
