"""Property tests of the trust ledger, through the real projection and its SQL: random stories of payments,
refunds, disputes (won, lost, open), returns, fees and payouts, delivered shuffled, in random batches and
partly twice, then reconciled at random times. The three-way identity always holds, the ledger is what the
story says (fees never in it), and no payment is refunded beyond its amount."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylinks_events import (
    BankAccountRegistered,
    DisputeClosed,
    Envelope,
    Event,
    FeeCharged,
    Payer,
    PaymentDisputed,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PayoutLine,
    PayoutPaid,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)
from reconciliation_service import money_queries, projection_store, queries
from reconciliation_service.domain import PaymentRef
from reconciliation_service.trust import reconcile

T0 = datetime(2026, 9, 1, tzinfo=UTC)
TRUST, OPERATING = "trust-account", "operating-account"


@dataclass
class Story:
    """The events of one firm, and what its trust ledger must say: (time, signed amount) per payment."""

    firm_id: str
    events: list[Event] = field(default_factory=list)
    movements: list[tuple[datetime, int]] = field(default_factory=list)
    refunded: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, int] = field(default_factory=dict)
    payout_lines: list[PayoutLine] = field(default_factory=list)

    def ledger(self, as_of: datetime) -> int:
        return sum(amount for at, amount in self.movements if at <= as_of)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


@st.composite
def payment_story(draw: st.DrawFn, story: Story, index: int) -> None:
    """One payment into the trust account and what happens to it afterwards, within what link-service
    allows (never more back than amount - refunds (pending count) - disputes lost - returned)."""
    firm, pid = story.firm_id, f"p{index}"
    amount = draw(st.integers(1, 100_000))
    method = draw(st.sampled_from(["card", "echeck"]))
    at = T0 + minutes(draw(st.integers(0, 60 * 24 * 200)))
    story.amounts[pid] = amount
    story.refunded[pid] = 0
    story.events += [
        PaymentReceived(
            firm_id=firm, payment_id=pid, bank_account_id=TRUST, source="qr_code", amount=amount,
            method=method, payer=Payer(name="Pat", email="pat@example.com"), received_at=at,
        ),
        PaymentProcessed(
            firm_id=firm, payment_id=pid, bank_account_id=TRUST, amount=amount, method=method,
            processed_at=at + minutes(1), fee=draw(st.integers(0, 500)),
        ),
        FeeCharged(
            firm_id=firm, fee_id=f"fee-{pid}", payment_id=pid, kind="processing",
            amount=draw(st.integers(0, 500)), bank_account_id=OPERATING, charged_at=at + minutes(1),
        ),
    ]  # fmt: skip
    story.movements.append((at + minutes(1), amount))
    story.payout_lines.append(PayoutLine(type="payment", payment_id=pid, amount=amount))
    if draw(st.booleans()):
        story.events.append(
            PaymentLinked(
                firm_id=firm, payment_id=pid, matter_id=f"m{draw(st.integers(0, 2))}", contact_id="c",
                linked_by="ann", linked_at=at + minutes(draw(st.integers(2, 90_000))),
            )
        )  # fmt: skip
    left = amount
    for step, kind in enumerate(draw(st.lists(st.sampled_from(["refund", "dispute", "return"]), max_size=4))):
        if left == 0 or (kind == "return" and method != "echeck"):
            continue
        when = at + minutes(10 * (step + 1) + draw(st.integers(0, 60 * 24 * 150)))
        taken = draw(st.integers(1, left))
        left -= _reversal(draw, story, pid, kind, taken, when)
        if kind == "return":
            break  # the bank takes a payment back once


def _reversal(draw: st.DrawFn, story: Story, pid: str, kind: str, amount: int, at: datetime) -> int:
    """Append one reversal; returns what it holds of the payment from then on (pending refunds count)."""
    firm, rid = story.firm_id, f"{kind}-{pid}-{uuid.uuid4().hex[:6]}"
    if kind == "return":
        story.events.append(
            PaymentReturned(
                firm_id=firm,
                payment_id=pid,
                bank_account_id=TRUST,
                amount=amount,
                reason="R10",
                returned_at=at,
            )
        )
        story.movements.append((at, -amount))
        story.payout_lines.append(PayoutLine(type="return", payment_id=pid, amount=-amount))
        return amount
    if kind == "refund":
        outcome = draw(st.sampled_from(["succeeded", "failed", "pending"]))
        story.events.append(
            RefundRequested(
                firm_id=firm, refund_id=rid, payment_id=pid, bank_account_id=TRUST, amount=amount, reason="r",
                requested_by="amy", requested_at=at,
            )
        )  # fmt: skip
        if outcome == "succeeded":
            story.events.append(
                RefundSucceeded(
                    firm_id=firm, refund_id=rid, payment_id=pid, bank_account_id=TRUST, amount=amount,
                    succeeded_at=at + minutes(5),
                )
            )  # fmt: skip
            story.movements.append((at + minutes(5), -amount))
            story.refunded[pid] += amount
            story.payout_lines.append(
                PayoutLine(type="refund", payment_id=pid, refund_id=rid, amount=-amount)
            )
        elif outcome == "failed":
            story.events.append(
                RefundFailed(
                    firm_id=firm, refund_id=rid, payment_id=pid, reason="x", failed_at=at + minutes(5)
                )
            )
            return 0
        return amount
    outcome = draw(st.sampled_from(["won", "lost", "open"]))
    story.events += [
        PaymentDisputed(
            firm_id=firm, dispute_id=rid, payment_id=pid, bank_account_id=TRUST, amount=amount,
            reason="fraud", evidence_due_by=at + timedelta(days=7), disputed_at=at,
        ),
        FeeCharged(
            firm_id=firm, fee_id=f"fee-{rid}", payment_id=pid, kind="dispute", amount=1500,
            bank_account_id=OPERATING, charged_at=at,
        ),
    ]  # fmt: skip
    story.payout_lines.append(PayoutLine(type="dispute", payment_id=pid, amount=-amount))
    if outcome == "open":
        return amount
    closed = at + minutes(draw(st.integers(1, 60 * 24 * 60)))
    story.events.append(
        DisputeClosed(
            firm_id=firm, dispute_id=rid, payment_id=pid, outcome=outcome, amount=amount, closed_at=closed
        )
    )
    if outcome == "lost":
        story.movements.append((closed, -amount))
        return amount
    story.events.append(
        FeeCharged(
            firm_id=firm, fee_id=f"fee-{rid}", payment_id=pid, kind="dispute", amount=-1500,
            bank_account_id=OPERATING, charged_at=closed,
        )
    )  # fmt: skip
    story.payout_lines.append(PayoutLine(type="dispute_won", payment_id=pid, amount=amount))
    return 0


@st.composite
def stories(draw: st.DrawFn) -> Story:
    story = Story(firm_id=f"prop-{uuid.uuid4().hex[:12]}")
    story.events += [
        BankAccountRegistered(firm_id=story.firm_id, bank_account_id=TRUST, name="Trust", kind="trust"),
        BankAccountRegistered(firm_id=story.firm_id, bank_account_id=OPERATING, name="Op", kind="operating"),
    ]
    for index in range(draw(st.integers(0, 6))):
        draw(payment_story(story, index))
    lines = story.payout_lines
    cut = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=3)))
    for n, (start, end) in enumerate(zip([0, *cut], [*cut, len(lines)], strict=True)):
        if start < end:
            story.events.append(
                PayoutPaid(
                    firm_id=story.firm_id, payout_id=f"po{n}", bank_account_id=TRUST,
                    amount=sum(line.amount for line in lines[start:end]),
                    arrival_date=date(2026, 9, 1) + timedelta(days=draw(st.integers(0, 400))),
                    lines=tuple(lines[start:end]),
                )
            )  # fmt: skip
    return story


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(story=stories(), seed=st.integers(0, 2**32), as_of_minutes=st.integers(0, 60 * 24 * 500))
async def test_the_trust_ledger_reconciles_whatever_happens(
    pool: asyncpg.Pool, story: Story, seed: int, as_of_minutes: int
) -> None:
    rng = random.Random(seed)
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await _deliver(conn, [Envelope(e, source="/property") for e in story.events], rng)
            for as_of in (T0 + minutes(as_of_minutes), T0 + timedelta(days=1000)):
                await _check(conn, story, as_of)
        finally:
            await transaction.rollback()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(story=stories(), seeds=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)))
async def test_any_two_deliveries_of_a_story_give_the_same_rows(
    pool: asyncpg.Pool, story: Story, seeds: tuple[int, int]
) -> None:
    snapshots = []
    envelopes = [Envelope(e, source="/property") for e in story.events]  # the same event ids both times
    async with pool.acquire() as conn:
        for seed in seeds:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await _deliver(conn, envelopes, random.Random(seed))
                snapshots.append(await _rows(conn, story.firm_id))
            finally:
                await transaction.rollback()
    assert snapshots[0] == snapshots[1]


async def _deliver(conn: asyncpg.Connection, envelopes: list[Envelope], rng: random.Random) -> None:
    """The events shuffled, a third of them twice, in random batches (the consumer's)."""
    delivered = envelopes + rng.sample(envelopes, len(envelopes) // 3)
    rng.shuffle(delivered)
    for batch in _batches(delivered, rng):
        await projection_store.apply(conn, batch)


_TABLES = ("payments", "refunds", "disputes", "fees", "payouts", "ledger_movements", "payment_history")


async def _rows(conn: asyncpg.Connection, firm_id: str) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: sorted(
            tuple(r)
            for r in await conn.fetch(f"SELECT * FROM {table} WHERE firm_id = $1", firm_id)  # noqa: S608
        )
        for table in _TABLES
    }


async def _check(conn: asyncpg.Connection, story: Story, as_of: datetime) -> None:
    firm = story.firm_id
    result = reconcile(
        TRUST,
        as_of,
        "USD",
        await money_queries.positions(conn, firm, TRUST, as_of),
        await money_queries.deposited(conn, firm, TRUST, as_of),
        await money_queries.fees_on_account(conn, firm, TRUST, as_of),
    )
    clients = sum(c.balance for c in result.client_ledgers)
    assert result.deposited + result.in_transit == result.ledger == clients + result.unidentified
    assert result.balanced
    assert result.ledger == story.ledger(as_of)  # fees never in it
    assert result.fees_on_trust == 0
    assert all(0 <= c.at_risk <= max(c.balance, 0) for c in result.client_ledgers)
    payouts = [e for e in story.events if isinstance(e, PayoutPaid) and e.arrival_date <= as_of.date()]
    assert result.deposited == sum(p.amount for p in payouts)
    for payment_id, amount in story.amounts.items():
        row = await queries.payment(conn, PaymentRef(firm, payment_id))
        assert row is not None
        assert row["refunded_amount"] == story.refunded[payment_id] <= amount


def _batches(envelopes: list[Envelope], rng: random.Random) -> list[list[Envelope]]:
    """The consumer's batches: random cuts of the delivery."""
    batches: list[list[Envelope]] = []
    rest = list(envelopes)
    while rest:
        size = rng.randint(1, len(rest))
        batches.append(rest[:size])
        rest = rest[size:]
    return batches
