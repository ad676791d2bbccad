"""Bank accounts and the links that pay into them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from paylinks_events import utcnow
from paylinks_events.models import BankAccountKind
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from ..config import Settings
from ..domain.bank_account import BankAccount
from ..domain.link import Link, LinkKind, bank_account_link_id, bill_link_id
from ..store.tables import LinkTables
from ..tokens import LinkTokens
from .errors import NotFound

UnitOfWork = AbstractUnitOfWork[LinkTables]
Writer = AbstractWriter[LinkTables]


@dataclass(frozen=True)
class IssuedLink:
    link_id: str
    kind: LinkKind
    url: str
    payee: str  # the bank account's name


@dataclass(frozen=True)
class PayLinks:
    """How a pay link is made: a token from its stored seed, and the URL that carries the token."""

    tokens: LinkTokens
    settings: Settings

    def url(self, seed: bytes) -> str:
        return self.settings.pay_url(self.tokens.token(seed))


async def register_bank_account(
    writer: Writer, firm_id: str, *, name: str, kind: BankAccountKind, currency: str
) -> BankAccount:
    account = BankAccount.register(
        str(uuid.uuid4()), firm_id=firm_id, name=name, kind=kind, currency=currency
    )

    async def command(uow: UnitOfWork) -> BankAccount:
        await uow.save(account)
        await uow.tables.insert_account(account)
        return account

    return await writer.execute(command)


async def account_link(writer: Writer, pay_links: PayLinks, firm_id: str, bank_account_id: str) -> IssuedLink:
    """The account's one permanent link, issued the first time it is asked for."""

    async def command(uow: UnitOfWork) -> IssuedLink:
        account = await uow.load(BankAccount, bank_account_id)
        if not account.belongs_to(firm_id):
            raise NotFound("bank account")
        link_id = bank_account_link_id(account.id)
        url = await _issue(uow, pay_links, link_id, firm_id, "bank_account", account.id)
        return IssuedLink(link_id, "bank_account", url, account.name)

    return await writer.execute(command)


async def bill_link(
    writer: Writer, pay_links: PayLinks, firm_id: str, bill_id: str, bank_account_id: str
) -> IssuedLink:
    async def command(uow: UnitOfWork) -> IssuedLink:
        bill = await uow.tables.find_bill(bill_id, firm_id)
        if bill is None:
            raise NotFound("bill")
        if bill.state != "open":
            raise DomainError("bill_closed", f"the bill is {bill.state}: it cannot get a payment link")
        account = await uow.load(BankAccount, bank_account_id)
        if not account.belongs_to(firm_id):
            raise DomainError("unknown_bank_account", "bank_account_id names no bank account of this firm")
        if account.currency != bill.currency:  # a payment is taken in the account's currency
            raise DomainError(
                "currency_mismatch",
                f"the bill is in {bill.currency} and the bank account takes {account.currency}",
            )
        link_id = bill_link_id(bill_id, bank_account_id)
        url = await _issue(uow, pay_links, link_id, firm_id, "bill", bank_account_id, bill_id)
        return IssuedLink(link_id, "bill", url, account.name)

    return await writer.execute(command)


async def _issue(
    uow: UnitOfWork,
    pay_links: PayLinks,
    link_id: str,
    firm_id: str,
    kind: LinkKind,
    bank_account_id: str,
    bill_id: str | None = None,
) -> str:
    """Issue the link once and return its URL; afterwards rebuild the same URL from its stored seed."""
    link = await uow.load(Link, link_id)
    seed = await uow.tables.token_seed(link_id) if link.exists else None
    if seed is None:
        seed = pay_links.tokens.new_seed()
        link.issue(firm_id=firm_id, kind=kind, bank_account_id=bank_account_id, bill_id=bill_id, now=utcnow())
        await uow.save(link)
        token_hash = LinkTokens.lookup_hash(pay_links.tokens.token(seed))
        await uow.tables.insert_link(link, token_hash=token_hash, token_seed=seed)
    return pay_links.url(seed)


async def pause_link(
    writer: Writer, link_id: str, *, declines: int, window: timedelta, now: datetime, until: datetime
) -> None:
    """Record that a burst of declines paused the link (LinkPaused on link.events, through the outbox)."""

    async def command(uow: UnitOfWork) -> None:
        link = await uow.load(Link, link_id)
        if not link.exists:
            raise NotFound("link")
        link.pause(declines=declines, window=window, now=now, until=until)
        await uow.save(link)

    await writer.execute(command)
