"""The trust reconciliation's arithmetic: client ledgers, unidentified money and funds at risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciliation_service.trust import ClientLedger, Position, reconcile

pytestmark = pytest.mark.unit

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def position(
    net: int, method: str = "card", days_ago: int = 1, open_disputes: int = 0, matter: str | None = "m"
) -> Position:
    return Position(
        payment_id=f"p{net}{days_ago}{matter}",
        method=method,
        processed_at=AS_OF - timedelta(days=days_ago),
        net=net,
        open_disputes=open_disputes,
        matter_id=matter,
        contact_id="c" if matter else None,
    )


@pytest.mark.parametrize(
    ("method", "days_ago", "open_disputes", "at_risk"),
    [
        ("card", 119, 0, 1000),  # inside the chargeback window: all of it
        ("card", 120, 0, 0),
        ("echeck", 59, 0, 1000),
        ("echeck", 60, 0, 0),
        ("card", 300, 400, 400),  # old money: only what is in an open dispute
        ("card", 300, 5000, 1000),  # never more than is left of the payment
    ],
)
def test_money_is_at_risk_inside_its_window_or_while_disputed(
    method: str, days_ago: int, open_disputes: int, at_risk: int
) -> None:
    assert position(1000, method, days_ago, open_disputes).at_risk(AS_OF) == at_risk


def test_client_ledgers_group_by_matter_and_the_rest_is_unidentified() -> None:
    result = reconcile(
        "t",
        AS_OF,
        "USD",
        [
            position(1000, days_ago=200),
            position(500, days_ago=2),
            position(700, matter="n", days_ago=300),
            position(300, matter=None),
            position(-200, matter=None, days_ago=3),  # a refund larger than what is left
        ],
        deposited=1500,
    )
    assert result.client_ledgers == (ClientLedger("m", "c", 1500, 500), ClientLedger("n", "c", 700, 0))
    assert (result.ledger, result.unidentified, result.in_transit) == (2300, 100, 800)
    assert result.balanced


def test_an_account_with_nothing_in_it_balances_at_zero() -> None:
    result = reconcile("t", AS_OF, "USD", [], deposited=0)
    assert (result.ledger, result.in_transit, result.unidentified, result.balanced) == (0, 0, 0, True)
