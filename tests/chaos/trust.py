"""The trust side of the evidence: each trust account's three-way reconciliation as reconciliation-service
computes it from its read model (its own queries and arithmetic), next to the records it must agree with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka.structs import ConsumerRecord

from reconciliation_service import money_queries
from reconciliation_service.trust import reconcile


@dataclass(frozen=True)
class TrustBalance:
    """One trust account's reconciliation as of a time, as the service reports it."""

    firm_id: str
    bank_account_id: str
    as_of: datetime
    deposited: int
    in_transit: int
    ledger: int
    client_balances: tuple[int, ...]
    unidentified: int


@dataclass(frozen=True)
class TrustEvidence:
    account_kinds: dict[str, str] = field(default_factory=dict)  # bank_account_id -> trust / operating
    payouts: list[ConsumerRecord] = field(default_factory=list)  # payout.events records of the firms
    balances: list[TrustBalance] = field(default_factory=list)


async def trust_balances(conn: asyncpg.Connection, firm_ids: Iterable[str]) -> list[TrustBalance]:
    """Every trust account of these firms, reconciled now (`conn` on reconciliation-service's schema)."""
    as_of = datetime.now(UTC)
    accounts = await conn.fetch(
        "SELECT firm_id, bank_account_id, currency FROM bank_accounts"
        " WHERE kind = 'trust' AND firm_id = ANY($1::text[]) ORDER BY firm_id, bank_account_id",
        list(firm_ids),
    )
    balances = []
    for a in accounts:
        firm, account = a["firm_id"], a["bank_account_id"]
        result = reconcile(
            account,
            as_of,
            a["currency"],
            await money_queries.positions(conn, firm, account, as_of),
            await money_queries.deposited(conn, firm, account, as_of),
        )
        balances.append(
            TrustBalance(
                firm,
                account,
                as_of,
                result.deposited,
                result.in_transit,
                result.ledger,
                tuple(c.balance for c in result.client_ledgers),
                result.unidentified,
            )
        )
    return balances
