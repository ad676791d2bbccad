"""The three-way trust reconciliation on the real broker: payments, refunds, disputes, returns and payouts in
a trust account, staff linking, and the balances as of different times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from paylinks_events import Envelope, PayoutLine
from paylinks_runtime.testing import eventually
from reconciliation_service import projection_store
from reconciliation_service.consumer import FEES_ON_TRUST, fees_of, flag_fees_on_trust


async def reconciliation(firm, bank_account_id: str, as_of: datetime | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    params = {"bank_account_id": bank_account_id} | ({"as_of": as_of.isoformat()} if as_of else {})
    response = await firm.get("/v1/trust-reconciliation", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def reconciled(firm, bank_account_id: str, **expected: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async def probe() -> dict[str, Any] | None:
        response = await firm.get("/v1/trust-reconciliation", bank_account_id=bank_account_id)
        if response.status_code != 200:  # the account is not known yet
            return None
        body: dict[str, Any] = response.json()
        return body if all(body[k] == v for k, v in expected.items()) else None

    return await eventually(probe)  # type: ignore[no-any-return]


async def test_a_month_of_trust_money_reconciles_three_ways(firm) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    await firm.publish(trust, operating)
    _, matter = await firm.practice()
    t = trust.bank_account_id
    linked = firm.received(t, amount=10000)
    unlinked = firm.received(t, amount=5000, method="echeck", card_brand=None, last4=None)
    refunded = firm.received(t, amount=8000)
    lost = firm.received(t, amount=4000)
    returned = firm.received(t, amount=6000, method="echeck", card_brand=None, last4=None)
    refund = firm.refund_requested(refunded, 3000)
    open_dispute = firm.disputed(refunded, amount=2000)
    lost_dispute = firm.disputed(lost)
    await firm.publish(
        *(e for r in (linked, unlinked, refunded, lost, returned) for e in (r, firm.processed(r))),
        *(firm.fee(r, operating.bank_account_id) for r in (linked, unlinked, refunded)),
        refund,
        firm.refund_succeeded(refund),
        open_dispute,
        lost_dispute,
        firm.dispute_closed(lost_dispute, "lost"),
        firm.returned(returned),
        firm.payout(t, _line(linked), _line(unlinked)),
    )
    await reconciled(firm, t, ledger=20000, deposited=15000)
    response = await firm.client.post(
        f"/v1/payments/{linked.payment_id}/link", json={"matter_id": matter.matter_id}, headers=firm.headers
    )
    assert response.status_code == 200

    now = await reconciled(firm, t, unidentified=10000)
    assert now["in_transit"] == 5000
    assert now["client_ledgers"] == [
        {"matter_id": matter.matter_id, "contact_id": matter.contact_id, "balance": 10000, "at_risk": 10000}
    ]
    assert (now["balanced"], now["fees_on_trust"], now["currency"]) == (True, 0, "USD")


async def test_as_of_counts_only_what_had_happened_by_then(firm) -> None:  # type: ignore[no-untyped-def]
    trust = firm.bank_account(kind="trust")
    received = firm.received(trust.bank_account_id, amount=8000)
    processed = firm.processed(received)
    refund = firm.refund_requested(received, 3000)
    await firm.publish(trust, received, processed, refund, firm.refund_succeeded(refund))
    await reconciled(firm, trust.bank_account_id, ledger=5000)

    before = await reconciliation(firm, trust.bank_account_id, processed.processed_at - timedelta(seconds=1))
    assert (before["ledger"], before["unidentified"], before["client_ledgers"]) == (0, 0, [])
    between = await reconciliation(firm, trust.bank_account_id, processed.processed_at + timedelta(seconds=1))
    assert (between["ledger"], between["unidentified"], between["balanced"]) == (8000, 8000, True)


async def test_a_bill_payment_is_its_clients_money_and_a_dispute_puts_old_money_at_risk(firm) -> None:  # type: ignore[no-untyped-def]
    trust = firm.bank_account(kind="trust")
    contact, matter = await firm.practice()
    bill = firm.bill(matter)
    long_ago = datetime.now(UTC) - timedelta(days=200)
    old = firm.received(trust.bank_account_id, amount=7000, bill_id=bill.bill_id, received_at=long_ago)
    dispute = firm.disputed(old, amount=2500)
    await firm.publish(trust, bill, old, firm.processed(old), dispute)
    body = await reconciled(firm, trust.bank_account_id, ledger=7000)
    assert body["client_ledgers"] == [
        {"matter_id": matter.matter_id, "contact_id": contact.contact_id, "balance": 7000, "at_risk": 2500}
    ]
    assert body["unidentified"] == 0


async def test_a_fee_charged_to_trust_is_counted(firm) -> None:  # type: ignore[no-untyped-def]
    trust = firm.bank_account(kind="trust")
    received = firm.received(trust.bank_account_id)
    await firm.publish(trust, received, firm.processed(received), firm.fee(received, trust.bank_account_id))
    body = await reconciled(firm, trust.bank_account_id, fees_on_trust=1)
    assert body["ledger"] == received.amount  # the fee never touches the trust ledger


async def test_the_consumer_flags_a_fee_charged_to_a_known_trust_account(firm, pool) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    received = firm.received(trust.bank_account_id)
    wrong, right = firm.fee(received, trust.bank_account_id), firm.fee(received, operating.bank_account_id)
    envelopes = [Envelope(e, source="/tests") for e in (trust, operating, wrong, right)]
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:  # straight into the read model, as the consumer's batch does: not through the shared topics
            await projection_store.apply(conn, envelopes)
            before = FEES_ON_TRUST._value.get()
            flagged = await flag_fees_on_trust(conn, fees_of(envelopes))
            assert FEES_ON_TRUST._value.get() >= before + 1
        finally:
            await transaction.rollback()
    assert [(f["fee_id"], f["bank_account_id"]) for f in flagged] == [(wrong.fee_id, trust.bank_account_id)]


async def test_only_a_trust_account_of_ones_own_firm_reconciles(firm, other_firm) -> None:  # type: ignore[no-untyped-def]
    operating, trust, theirs = (
        firm.bank_account(),
        firm.bank_account(kind="trust"),
        other_firm.bank_account(kind="trust"),
    )
    await firm.publish(operating, trust, theirs)
    await reconciled(firm, trust.bank_account_id, ledger=0)
    await eventually(lambda: _knows_account(other_firm, theirs.bank_account_id))

    refused = await firm.get("/v1/trust-reconciliation", bank_account_id=operating.bank_account_id)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "not_a_trust_account")
    assert (
        await firm.get("/v1/trust-reconciliation", bank_account_id=theirs.bank_account_id)
    ).status_code == 404
    assert (await firm.get("/v1/trust-reconciliation", bank_account_id="nope")).status_code == 404
    assert (await firm.get("/v1/trust-reconciliation")).status_code == 422
    naive = await firm.get(
        "/v1/trust-reconciliation", bank_account_id=trust.bank_account_id, as_of="2026-11-01T00:00:00"
    )
    assert naive.status_code == 422


def _line(received) -> PayoutLine:  # type: ignore[no-untyped-def]
    return PayoutLine(type="payment", payment_id=received.payment_id, amount=received.amount)


async def _knows_account(firm, bank_account_id: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(
        await firm.pool.fetchval(
            "SELECT true FROM bank_accounts WHERE firm_id = $1 AND bank_account_id = $2",
            firm.id,
            bank_account_id,
        )
    )
