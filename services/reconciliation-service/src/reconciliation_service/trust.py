"""The three-way trust reconciliation (CONTRACT.md §2; the service README, "The ledger"), pure: from each
payment's position in a trust account as of a time, and the account's deposits, to the ledger, the client
ledgers and `balanced`.

bank (deposited + in transit) = trust ledger = sum of client ledgers + unidentified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# How long after processing a payer can still take money back: card chargebacks (networks allow ~120 days)
# and unauthorized eCheck debits (NACHA: 60 days).
CHARGEBACK_WINDOWS = {"card": timedelta(days=120), "echeck": timedelta(days=60)}


@dataclass(frozen=True)
class Position:
    """One payment's money in the account as of a time: what came in minus what went back."""

    payment_id: str
    method: str | None
    processed_at: datetime | None
    net: int  # processed - refunds succeeded - disputes lost - returned, up to as_of
    open_disputes: int  # disputed and not closed as of then: not a loss yet, but at risk
    matter_id: str | None  # whose money it is as of then (None and None: unidentified)
    contact_id: str | None

    @property
    def identified(self) -> bool:
        return self.matter_id is not None or self.contact_id is not None

    def at_risk(self, as_of: datetime) -> int:
        """What the payer can still take back: all of it inside its chargeback window, else what is in open
        disputes; never more than is left of it."""
        left = max(self.net, 0)
        window = CHARGEBACK_WINDOWS.get(self.method or "")
        in_window = (
            window is not None and self.processed_at is not None and as_of - self.processed_at < window
        )
        return left if in_window else min(self.open_disputes, left)


@dataclass(frozen=True)
class ClientLedger:
    matter_id: str | None
    contact_id: str | None
    balance: int
    at_risk: int


@dataclass(frozen=True)
class TrustReconciliation:
    bank_account_id: str
    as_of: datetime
    currency: str
    deposited: int
    ledger: int
    client_ledgers: tuple[ClientLedger, ...]
    unidentified: int
    fees_on_trust: int  # FeeCharged events or payout fee lines naming this account: each one a bug

    @property
    def in_transit(self) -> int:
        return self.ledger - self.deposited

    @property
    def balanced(self) -> bool:
        clients = sum(c.balance for c in self.client_ledgers)
        return self.deposited + self.in_transit == self.ledger == clients + self.unidentified


def reconcile(
    bank_account_id: str,
    as_of: datetime,
    currency: str,
    positions: Iterable[Position],
    deposited: int,
    fees_on_trust: int = 0,
) -> TrustReconciliation:
    positions = list(positions)
    return TrustReconciliation(
        bank_account_id=bank_account_id,
        as_of=as_of,
        currency=currency,
        deposited=deposited,
        ledger=sum(p.net for p in positions),
        client_ledgers=client_ledgers(positions, as_of),
        unidentified=sum(p.net for p in positions if not p.identified),
        fees_on_trust=fees_on_trust,
    )


def client_ledgers(positions: Iterable[Position], as_of: datetime) -> tuple[ClientLedger, ...]:
    """One ledger per matter (or per contact, for money linked to a contact only), in a stable order."""
    balances: dict[tuple[str | None, str | None], tuple[int, int]] = {}
    for p in positions:
        if p.identified:
            balance, risk = balances.get((p.matter_id, p.contact_id), (0, 0))
            balances[(p.matter_id, p.contact_id)] = (balance + p.net, risk + p.at_risk(as_of))
    return tuple(
        ClientLedger(matter_id, contact_id, balance, min(risk, max(balance, 0)))
        for (matter_id, contact_id), (balance, risk) in sorted(balances.items(), key=_ledger_order)
    )


def _ledger_order(item: tuple[tuple[str | None, str | None], tuple[int, int]]) -> tuple[str, str]:
    (matter_id, contact_id), _ = item
    return (matter_id or "", contact_id or "")
