"""Setting who gets payment emails, on the in-memory unit of work (no Kafka, no Postgres)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from notifier import commands
from notifier.commands import UnknownBankAccount
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"


@dataclass
class FakeRecipientTables:
    accounts: set[tuple[str, str]] = field(default_factory=lambda: {(FIRM, "ba-1")})
    groups: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)

    async def bank_account_known(self, firm_id: str, bank_account_id: str) -> bool:
        return (firm_id, bank_account_id) in self.accounts

    async def set_recipients(self, firm_id: str, bank_account_id: str | None, emails: list[str]) -> None:
        if emails:
            self.groups[(firm_id, bank_account_id)] = emails
        else:
            self.groups.pop((firm_id, bank_account_id), None)


def writer() -> FakeWriter[FakeRecipientTables]:
    return FakeWriter(FakeUnitOfWork(FakeRecipientTables()))


async def test_each_address_is_kept_once_whatever_its_case_in_the_order_given() -> None:
    w = writer()
    kept = await commands.set_recipients(w, FIRM, None, ["b@x.test", "A@x.test", "B@X.test", "a@x.test"])
    assert kept == ["b@x.test", "A@x.test"]
    assert w.uow.tables.groups == {(FIRM, None): kept}
    assert w.uow.outbox == []  # recipients are the notifier's own settings: no event


async def test_a_bank_accounts_group_needs_an_account_of_the_firm() -> None:
    w = writer()
    await commands.set_recipients(w, FIRM, "ba-1", ["ops@x.test"])
    for firm_id, account in (("another-firm", "ba-1"), (FIRM, "ba-unknown")):
        with pytest.raises(UnknownBankAccount):
            await commands.set_recipients(w, firm_id, account, ["eve@x.test"])
    assert w.uow.tables.groups == {(FIRM, "ba-1"): ["ops@x.test"]}


async def test_an_empty_list_removes_the_group() -> None:
    w = writer()
    await commands.set_recipients(w, FIRM, "ba-1", ["ops@x.test"])
    assert await commands.set_recipients(w, FIRM, "ba-1", []) == []
    assert w.uow.tables.groups == {}
