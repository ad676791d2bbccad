"""Bank accounts and links on the in-memory unit of work: what the commands save, publish and keep in the
tables, and what they refuse, without Kafka or Postgres (the integration tests run them on Postgres)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from link_service.commands import links
from link_service.commands.errors import NotFound
from link_service.commands.links import PayLinks
from link_service.config import Settings
from link_service.domain.bank_account import BankAccount
from link_service.domain.link import Link
from link_service.domain.pay_target import Bill
from link_service.tokens import LinkTokens
from paylinks_events import BankAccountRegistered, LinkIssued
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"
SETTINGS = Settings(public_base_url="https://pay.example.test")
TOKENS = LinkTokens(SETTINGS.link_token_secret)
PAY_LINKS = PayLinks(TOKENS, SETTINGS)


@dataclass
class FakeLinkTables:
    accounts: dict[str, BankAccount] = field(default_factory=dict)
    bills: dict[str, Bill] = field(default_factory=dict)
    links: dict[str, tuple[Link, bytes, bytes]] = field(default_factory=dict)  # id -> (link, hash, seed)

    async def insert_account(self, account: BankAccount) -> None:
        self.accounts[account.id] = account

    async def find_bill(self, bill_id: str, firm_id: str) -> Bill | None:
        bill = self.bills.get(bill_id)
        return bill if bill and bill.firm_id == firm_id else None

    async def token_seed(self, link_id: str) -> bytes | None:
        found = self.links.get(link_id)
        return found[2] if found else None

    async def insert_link(self, link: Link, *, token_hash: bytes, token_seed: bytes) -> None:
        self.links[link.id] = (link, token_hash, token_seed)


def fake_writer() -> FakeWriter[FakeLinkTables]:
    return FakeWriter(FakeUnitOfWork(FakeLinkTables()))


async def registered(writer: FakeWriter[FakeLinkTables]) -> BankAccount:
    return await links.register_bank_account(writer, FIRM, name="Client trust", kind="trust", currency="USD")


async def test_registering_an_account_saves_its_event_and_its_row() -> None:
    writer = fake_writer()
    account = await registered(writer)
    [event] = writer.uow.published()
    assert isinstance(event, BankAccountRegistered)
    assert (event.firm_id, event.name, event.kind) == (FIRM, "Client trust", "trust")
    assert writer.uow.tables.accounts == {account.id: account}


async def test_an_account_link_is_issued_once_and_shown_again_with_the_same_url() -> None:
    writer = fake_writer()
    account = await registered(writer)
    first = await links.account_link(writer, PAY_LINKS, FIRM, account.id)
    again = await links.account_link(writer, PAY_LINKS, FIRM, account.id)
    assert first == again
    assert first.url.startswith("https://pay.example.test/pay/")
    assert (first.kind, first.payee) == ("bank_account", "Client trust")
    issued = [e for e in writer.uow.published() if isinstance(e, LinkIssued)]
    assert len(issued) == 1
    _, token_hash, _ = writer.uow.tables.links[first.link_id]
    assert token_hash == LinkTokens.lookup_hash(first.url.rsplit("/", 1)[1])


async def test_neither_the_store_nor_kafka_gets_the_live_token() -> None:
    writer = fake_writer()
    account = await registered(writer)
    link = await links.account_link(writer, PAY_LINKS, FIRM, account.id)
    token = link.url.rsplit("/", 1)[1]
    [stored] = writer.uow.events(link.link_id)
    [published] = [e for e in writer.uow.published() if isinstance(e, LinkIssued)]
    assert token not in stored.model_dump_json()
    assert token not in published.model_dump_json()


async def test_another_firms_account_is_not_found() -> None:
    writer = fake_writer()
    account = await registered(writer)
    with pytest.raises(NotFound):
        await links.account_link(writer, PAY_LINKS, "another-firm", account.id)
    with pytest.raises(NotFound):
        await links.account_link(writer, PAY_LINKS, FIRM, "no-such-account")
    assert writer.uow.tables.links == {}


async def test_a_bill_link_pays_into_the_firms_account() -> None:
    writer = fake_writer()
    account = await registered(writer)
    writer.uow.tables.bills["bill-1"] = Bill("bill-1", FIRM, 5_000, 5_000, "USD", "open")
    link = await links.bill_link(writer, PAY_LINKS, FIRM, "bill-1", account.id)
    [issued] = [e for e in writer.uow.published() if isinstance(e, LinkIssued)]
    assert (link.kind, link.payee) == ("bill", "Client trust")
    assert (issued.bill_id, issued.bank_account_id) == ("bill-1", account.id)


@pytest.mark.parametrize(
    ("bill", "account_firm", "error"),
    [
        (None, FIRM, NotFound),
        (Bill("bill-1", "another-firm", 5_000, 5_000, "USD", "open"), FIRM, NotFound),
        (Bill("bill-1", FIRM, 5_000, 0, "USD", "paid"), FIRM, DomainError),
        (Bill("bill-1", FIRM, 5_000, 5_000, "USD", "void"), FIRM, DomainError),
        (Bill("bill-1", FIRM, 5_000, 5_000, "USD", "open"), "another-firm", DomainError),
    ],
)
async def test_bill_link_refusals_issue_nothing(
    bill: Bill | None, account_firm: str, error: type[Exception]
) -> None:
    writer = fake_writer()
    account = await links.register_bank_account(
        writer, account_firm, name="Ops", kind="operating", currency="USD"
    )
    if bill is not None:
        writer.uow.tables.bills[bill.bill_id] = bill
    with pytest.raises(error):
        await links.bill_link(writer, PAY_LINKS, FIRM, "bill-1", account.id)
    assert writer.uow.tables.links == {}
    assert not any(isinstance(e, LinkIssued) for e in writer.uow.published())
