"""The firm profile and the processor's webhooks on the in-memory unit of work: what they save, publish and
keep in the tables, and what they refuse or ignore, without Kafka or Postgres (tests/integration and
tests/intake run them on Postgres)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pytest

from link_service.commands.firm_profile import update_profile
from link_service.commands.processor_reports import record_report
from link_service.domain.payment import Destination, OutOfOrder, Payment, Receipt
from link_service.processor import ChargeRequest
from link_service.processor import webhook_events as wh
from link_service.store.attempts import Attempt, PaymentRead
from paylinks_events import (
    Event,
    FeeCharged,
    FirmProfileUpdated,
    Payer,
    PaymentFailed,
    PaymentProcessed,
    PayoutPaid,
    utcnow,
)
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"


@dataclass
class FakeFirmTables:
    accounts: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, firm) -> kind
    firms: dict[str, tuple[str, str | None, int | None]] = field(default_factory=dict)

    async def account_kind(self, bank_account_id: str, firm_id: str) -> str | None:
        return self.accounts.get((bank_account_id, firm_id))

    async def upsert_firm(
        self,
        firm_id: str,
        display_name: str,
        fee_bank_account_id: str | None,
        minimum_payment_amount: int | None,
    ) -> None:
        self.firms[firm_id] = (display_name, fee_bank_account_id, minimum_payment_amount)


def firm_desk() -> tuple[FakeWriter[FakeFirmTables], FakeFirmTables]:
    tables = FakeFirmTables({("operating-1", FIRM): "operating", ("trust-1", FIRM): "trust"})
    return FakeWriter(FakeUnitOfWork(tables)), tables


async def test_a_profile_is_saved_with_its_event_and_its_row() -> None:
    writer, tables = firm_desk()
    firm = await update_profile(writer, FIRM, "Smith & Lee", "operating-1", 500)
    assert firm.display_name == "Smith & Lee"
    [event] = writer.uow.published()
    assert isinstance(event, FirmProfileUpdated)
    assert (event.fee_bank_account_id, event.minimum_payment_amount) == ("operating-1", 500)
    assert tables.firms[FIRM] == ("Smith & Lee", "operating-1", 500)


async def test_the_same_profile_again_publishes_nothing_more() -> None:
    writer, _ = firm_desk()
    await update_profile(writer, FIRM, "Smith & Lee", None)
    await update_profile(writer, FIRM, "Smith & Lee", None)
    assert len(writer.uow.published()) == 1


@pytest.mark.parametrize("account", ["trust-1", "operating-of-another-firm", "unknown"])
async def test_a_fee_account_that_is_not_one_of_the_firms_operating_accounts_is_refused(account: str) -> None:
    writer, tables = firm_desk()
    tables.accounts[("operating-of-another-firm", "firm-2")] = "operating"
    with pytest.raises(DomainError) as refused:
        await update_profile(writer, FIRM, "Smith & Lee", account)
    assert refused.value.code == "fee_account_not_operating"
    assert writer.uow.published() == []
    assert tables.firms == {}


@dataclass
class FakeReportTables:
    delivered: set[str] = field(default_factory=set)
    stream_types: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, Attempt] = field(default_factory=dict)
    fee_accounts: dict[str, str] = field(default_factory=dict)  # payment -> the charge's fee account
    settled: list[str] = field(default_factory=list)
    account_firms: dict[str, str] = field(default_factory=dict)
    account_kinds: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, firm) -> kind
    events_of: Callable[[str], list[Event]] | None = None  # the streams' events (the fake unit of work's)

    async def first_delivery(self, webhook_id: str) -> bool:
        first = webhook_id not in self.delivered
        self.delivered.add(webhook_id)
        return first

    async def stream_type(self, stream_id: str) -> str | None:
        return self.stream_types.get(stream_id)

    async def read_payment(self, payment_id: str) -> PaymentRead:
        events = self.events_of(payment_id) if self.events_of else []
        return PaymentRead(self.attempts.get(payment_id), self.stream_types.get(payment_id), events)

    async def charge_fee_account(self, payment_id: str) -> str | None:
        return self.fee_accounts.get(payment_id)

    async def settle_attempt(self, payment_id: str) -> None:
        self.settled.append(payment_id)

    async def account_firm(self, bank_account_id: str) -> str | None:
        return self.account_firms.get(bank_account_id)

    async def account_kind(self, bank_account_id: str, firm_id: str) -> str | None:
        return self.account_kinds.get((bank_account_id, firm_id))


@dataclass
class FakeReportLedger:
    """The two statements of a report recorded at once, on the same fake tables and streams."""

    uow: FakeUnitOfWork[FakeReportTables]
    saved: list[str] = field(default_factory=list)  # the webhook ids recorded by `save_first`

    async def read_payment(self, payment_id: str) -> PaymentRead:
        return await self.uow.tables.read_payment(payment_id)

    async def save_first(self, payment: Payment, webhook_id: str) -> bool:
        if webhook_id in self.uow.tables.delivered:
            return False
        await self.uow.save(payment)  # raises ConcurrencyError when the payment moved since it was read
        self.uow.tables.delivered.add(webhook_id)
        self.saved.append(webhook_id)
        return True


@dataclass
class Reports:
    writer: FakeWriter[FakeReportTables]
    tables: FakeReportTables
    ledger: FakeReportLedger

    async def payment(self, payment_id: str = "pay-1") -> str:
        to = Destination(FIRM, "link-1", "trust-1", None, "USD", "bank_account_link")
        receipt = Receipt(to, 10_000, "card", Payer(name="Ada", email="ada@example.com"), None, None)
        payment = Payment.receive(
            payment_id, receipt, method="card", brand="visa", last4="4242", now=utcnow()
        )
        await self.writer.uow.save(payment)
        self.tables.stream_types[payment_id] = Payment.stream_type
        self.tables.fee_accounts[payment_id] = "operating-1"
        return payment_id

    async def report(self, webhook_id: str, kind: str, **data: object) -> str:
        webhook = wh.Webhook(id=webhook_id, type=kind, data=data)
        return await record_report(self.writer, self.ledger, webhook, wh.parse_data(webhook))

    def published(self, kind: type) -> list[object]:
        return [e for e in self.writer.uow.published() if isinstance(e, kind)]


def reports(
    tables: FakeReportTables | None = None, ledger: type[FakeReportLedger] = FakeReportLedger
) -> Reports:
    tables = tables or FakeReportTables()
    uow = FakeUnitOfWork(tables)
    tables.events_of = uow.events
    return Reports(FakeWriter(uow), tables, ledger(uow))


async def test_a_success_is_recorded_once_with_its_fee_on_the_charges_fee_account() -> None:
    r = reports()
    payment_id = await r.payment()
    assert await r.report("wh-1", "payment.succeeded", payment_id=payment_id, fee=320) == "applied"
    assert await r.report("wh-1", "payment.succeeded", payment_id=payment_id, fee=320) == "ignored"
    assert await r.report("wh-2", "payment.succeeded", payment_id=payment_id, fee=320) == "ignored"
    [processed] = r.published(PaymentProcessed)
    assert processed.fee == 320  # type: ignore[attr-defined]
    [fee] = r.published(FeeCharged)
    assert (fee.amount, fee.bank_account_id) == (320, "operating-1")  # type: ignore[attr-defined]


async def test_without_the_charges_fee_account_only_an_operating_one_the_processor_names_takes_the_fee() -> (
    None
):
    r = reports()
    r.tables.account_kinds |= {("trust-1", FIRM): "trust", ("operating-1", FIRM): "operating"}
    payment_id = await r.payment()
    del r.tables.fee_accounts[payment_id]  # a payment whose charge named no fee account
    for account in ("trust-1", "operating-elsewhere", None):
        with pytest.raises(OutOfOrder):
            await r.report(
                f"wh-{account}",
                "payment.succeeded",
                payment_id=payment_id,
                fee=320,
                fee_bank_account_id=account,
            )
    assert r.published(PaymentProcessed) == r.published(FeeCharged) == []  # no fee ever on trust
    reported = {"payment_id": payment_id, "fee": 320, "fee_bank_account_id": "operating-1"}
    assert await r.report("wh-ok", "payment.succeeded", **reported) == "applied"
    [fee] = r.published(FeeCharged)
    assert fee.bank_account_id == "operating-1"  # type: ignore[attr-defined]


class NoSecondReadOfTheCharge(FakeReportTables):
    async def charge_fee_account(self, payment_id: str) -> str | None:
        raise AssertionError("the charge's fee account read again: the attempt read holds it")


async def test_a_payment_taken_here_takes_its_fee_account_from_the_attempt_already_read() -> None:
    tables = NoSecondReadOfTheCharge()
    r = reports(tables)
    payment_id = await r.payment()
    charge = ChargeRequest(payment_id, "pm_x", "card", 10_000, "USD", FIRM, "trust-1", "operating-2")
    tables.attempts[payment_id] = Attempt(payment_id, "received", None, charge, None)
    assert await r.report("wh-1", "payment.succeeded", payment_id=payment_id, fee=320) == "applied"
    [fee] = r.published(FeeCharged)
    assert (fee.amount, fee.bank_account_id) == (320, "operating-2")  # type: ignore[attr-defined]


async def taken_here(r: Reports, payment_id: str = "pay-1") -> str:
    """A payment intake received: its stream, and its attempt with the charge that named the fee account."""
    await r.payment(payment_id)
    charge = ChargeRequest(payment_id, "pm_x", "card", 10_000, "USD", FIRM, "trust-1", "operating-1")
    r.tables.attempts[payment_id] = Attempt(payment_id, "received", None, charge, None)
    return payment_id


async def test_a_settlement_of_a_payment_taken_here_is_recorded_at_once_without_a_unit_of_work() -> None:
    r = reports()
    payment_id = await taken_here(r)
    assert await r.report("wh-1", "payment.succeeded", payment_id=payment_id, fee=320) == "applied"
    assert (r.ledger.saved, r.writer.attempts_made) == (["wh-1"], 0)
    [fee] = r.published(FeeCharged)
    assert (fee.amount, fee.bank_account_id) == (320, "operating-1")  # type: ignore[attr-defined]
    # Delivered again it changes nothing: the unit of work decides, and finds the id recorded.
    assert await r.report("wh-1", "payment.succeeded", payment_id=payment_id, fee=320) == "ignored"
    assert (r.ledger.saved, r.writer.attempts_made) == (["wh-1"], 1)
    assert len(r.published(PaymentProcessed)) == 1


class ReadOneSaveBehind(FakeReportLedger):
    """The read sees the payment as it was before its last save (another report saved meanwhile)."""

    async def read_payment(self, payment_id: str) -> PaymentRead:
        read = await super().read_payment(payment_id)
        return PaymentRead(read.attempt, read.stream_type, read.events[:1])


async def test_a_report_on_a_payment_that_moved_since_its_read_is_decided_again_in_a_unit_of_work() -> None:
    r = reports(ledger=ReadOneSaveBehind)
    payment_id = await taken_here(r)
    assert await r.report("wh-1", "payment.succeeded", payment_id=payment_id, fee=320) == "applied"
    # Read as received, the payment is processed already: its save conflicts, and nothing is saved twice.
    assert await r.report("wh-2", "payment.succeeded", payment_id=payment_id, fee=320) == "ignored"
    assert (r.ledger.saved, r.writer.attempts_made) == (["wh-1"], 1)
    assert len(r.published(PaymentProcessed)) == len(r.published(FeeCharged)) == 1


async def test_a_failure_stops_counting_against_the_bill() -> None:
    r = reports()
    payment_id = await taken_here(r)
    assert await r.report("wh-1", "payment.failed", payment_id=payment_id, reason="R01") == "applied"
    assert len(r.published(PaymentFailed)) == 1
    assert r.tables.settled == [payment_id]  # in the unit of work, with the failure's events
    assert r.ledger.saved == []


async def test_a_report_before_its_charge_is_recorded_is_out_of_order_and_keeps_nothing() -> None:
    r = reports()
    charge = ChargeRequest("pay-9", "pm_x", "card", 10_000, "USD", FIRM, "trust-1", "operating-1")
    r.tables.attempts["pay-9"] = Attempt("pay-9", "charging", None, charge, None)
    with pytest.raises(OutOfOrder):
        await r.report("wh-1", "payment.succeeded", payment_id="pay-9", fee=320)
    assert r.writer.uow.published() == []


async def test_reports_about_what_this_service_does_not_have_are_ignored() -> None:
    r = reports()
    await taken_here(r)
    assert await r.report("wh-1", "payment.succeeded", payment_id="pay-unknown") == "ignored"
    assert await r.report("wh-2", "payment.succeeded", payment_id="pay-1", firm_id="firm-2") == "ignored"
    assert await r.report("wh-3", "customer.created") == "ignored"
    assert len(r.writer.uow.published()) == 1  # the payment received, nothing more


async def test_a_payout_is_recorded_for_the_firm_owning_its_account_only() -> None:
    r = reports()
    r.tables.account_firms["operating-1"] = FIRM
    line = {"type": "payment", "payment_id": "pay-1", "amount": 9_680}
    payout = {"bank_account_id": "operating-1", "amount": 9_680, "currency": "USD"}
    payout |= {"arrival_date": date(2026, 12, 4).isoformat(), "lines": [line]}
    assert await r.report("wh-1", "payout.paid", payout_id="po-1", **payout) == "applied"
    assert await r.report("wh-2", "payout.paid", payout_id="po-2", **payout, firm_id="firm-2") == "ignored"
    unknown = payout | {"bank_account_id": "operating-9"}
    assert await r.report("wh-3", "payout.paid", payout_id="po-3", **unknown) == "ignored"
    [paid] = r.published(PayoutPaid)
    assert paid.payout_id == "po-1"  # type: ignore[attr-defined]


async def test_a_report_arriving_while_intake_commits_is_retried_never_ignored() -> None:
    # The chaos suite lost a few PaymentProcessed in a thousand when the attempt and the stream were read in
    # two statements: intake's commit fell between them, the report saw no stream yet, then an attempt
    # already received, and answered "ignored". They are one snapshot now (`read_payment`, one statement in
    # Postgres): an attempt still charging there is out of order, and the processor delivers it again.
    tables = FakeReportTables()
    r = reports(tables)
    charge = ChargeRequest("pay-9", "pm_x", "card", 10_000, "USD", FIRM, "trust-1", "operating-1")
    tables.attempts["pay-9"] = Attempt("pay-9", "charging", None, charge, None)
    with pytest.raises(OutOfOrder):
        await r.report("wh-1", "payment.succeeded", payment_id="pay-9", fee=320)
