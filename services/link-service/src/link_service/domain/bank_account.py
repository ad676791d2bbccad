"""A firm's bank account (trust or operating) that clients can pay into."""

from __future__ import annotations

from paylinks_events import BankAccountRegistered
from paylinks_events.models import BankAccountKind
from paylinks_runtime.aggregate import Aggregate


class BankAccount(Aggregate):
    stream_type = "bank_account"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.firm_id = ""
        self.name = ""
        self.kind = ""
        self.currency = "USD"

    @classmethod
    def register(
        cls, bank_account_id: str, *, firm_id: str, name: str, kind: BankAccountKind, currency: str
    ) -> BankAccount:
        account = cls(bank_account_id)
        account.record(
            BankAccountRegistered(
                bank_account_id=bank_account_id,
                firm_id=firm_id,
                name=name,
                kind=kind,
                currency=currency,
            )
        )
        return account

    def belongs_to(self, firm_id: str) -> bool:
        return self.exists and self.firm_id == firm_id

    def when_BankAccountRegistered(self, event: BankAccountRegistered) -> None:
        self.firm_id, self.name, self.kind, self.currency = (
            event.firm_id,
            event.name,
            event.kind,
            event.currency,
        )
