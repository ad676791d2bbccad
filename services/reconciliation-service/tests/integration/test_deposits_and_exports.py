"""Deposits and exports on the real broker: payouts per bank account with their lines, and the CSV files a
bookkeeper imports, parsed back and totalled against the JSON."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from paylinks_events import Payer, PayoutLine
from paylinks_runtime.testing import eventually


def parsed(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def deposits(firm, **params: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    response = await firm.get("/v1/deposits", **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_deposits_per_account_with_their_lines_in_json_and_csv(firm, other_firm) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    paid, refunded = firm.received(trust.bank_account_id, amount=10000), firm.received(trust.bank_account_id)
    refund = firm.refund_requested(refunded, 2500)
    fee = firm.fee(paid, operating.bank_account_id, 320)
    today = date.today()
    first = firm.payout(
        trust.bank_account_id,
        PayoutLine(type="payment", payment_id=paid.payment_id, amount=10000),
        PayoutLine(type="payment", payment_id=refunded.payment_id, amount=12500),
        arrival=today - timedelta(days=3),
    )
    second = firm.payout(
        trust.bank_account_id,
        PayoutLine(type="refund", payment_id=refunded.payment_id, refund_id=refund.refund_id, amount=-2500),
        arrival=today,
    )
    fees = firm.payout(
        operating.bank_account_id,
        PayoutLine(type="fee", payment_id=paid.payment_id, fee_id=fee.fee_id, amount=-320),
        arrival=today,
    )
    theirs = other_firm.payout(other_firm.bank_account().bank_account_id, arrival=today)
    await firm.publish(trust, operating, first, second, fees, theirs)
    await eventually(lambda: _has_deposits(firm, 3))

    trust_deposits = await deposits(firm, bank_account_id=trust.bank_account_id)
    assert [d["payout_id"] for d in trust_deposits] == [first.payout_id, second.payout_id]
    assert trust_deposits[0]["lines"][1] == {
        "type": "payment",
        "payment_id": refunded.payment_id,
        "refund_id": None,
        "fee_id": None,
        "amount": 12500,
    }
    recent = await deposits(firm, **{"from": today.isoformat(), "to": today.isoformat()})
    assert {d["payout_id"] for d in recent} == {second.payout_id, fees.payout_id}

    rows = parsed(await firm.get("/v1/deposits.csv"))
    assert len(rows) == 4  # one per line, of this firm's payouts only
    assert [r["line_type"] for r in rows][:2] == ["payment", "payment"]  # the oldest payout first
    assert sorted(r["line_type"] for r in rows[2:]) == ["fee", "refund"]
    every = await deposits(firm)
    for deposit in every:
        lines = [r for r in rows if r["payout_id"] == deposit["payout_id"]]
        assert sum(Decimal(r["amount"]) for r in lines) * 100 == deposit["amount"]
        assert {Decimal(r["payout_amount"]) * 100 for r in lines} == {deposit["amount"]}
    assert [r["amount"] for r in rows if r["line_type"] == "refund"] == ["-25.00"]


async def test_the_payments_export_totals_what_the_api_says(firm) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    await firm.publish(trust, operating)
    _, matter = await firm.practice()
    plain = firm.received(trust.bank_account_id, amount=10050, reference='=HYPERLINK("http://evil")')
    refunded = firm.received(
        trust.bank_account_id, amount=20000, payer=Payer(name='Smith, "Jr."', email="smith@example.com")
    )
    lost = firm.received(operating.bank_account_id, amount=3000)
    returned = firm.received(trust.bank_account_id, amount=4000, method="echeck", card_brand=None, last4=None)
    refund = firm.refund_requested(refunded, 5000)
    dispute = firm.disputed(lost)
    payout = firm.payout(
        trust.bank_account_id, PayoutLine(type="payment", payment_id=plain.payment_id, amount=10050)
    )
    await firm.publish(
        *(e for r in (plain, refunded, lost, returned) for e in (r, firm.processed(r, fee=300))),
        refund,
        firm.refund_succeeded(refund),
        dispute,
        firm.dispute_closed(dispute, "lost"),
        firm.returned(returned),
        payout,
    )
    await eventually(lambda: _payment_has(firm, plain.payment_id, "payout_id", payout.payout_id))
    await eventually(lambda: _payment_has(firm, returned.payment_id, "status", "ready"))
    await eventually(lambda: _payment_has(firm, refunded.payment_id, "refunded_amount", 5000))
    await eventually(
        lambda: _payment_has(firm, lost.payment_id, "dispute", lambda d: d and d["status"] == "lost")
    )
    linked = await firm.client.post(
        f"/v1/payments/{refunded.payment_id}/link", json={"matter_id": matter.matter_id}, headers=firm.headers
    )
    assert linked.status_code == 200

    rows = {r["payment_id"]: r for r in parsed(await firm.get("/v1/payments.csv"))}
    assert len(rows) == 4
    for payment_id, row in rows.items():
        payment = await firm.payment(payment_id)
        assert Decimal(row["amount"]) * 100 == payment["amount"]
        assert Decimal(row["fee"]) * 100 == payment["fee"] == 300
        assert Decimal(row["refunded"]) * 100 == payment["refunded_amount"]
        assert row["payout_id"] == (payment["payout_id"] or "")
    assert sum(Decimal(r["net"]) for r in rows.values()) == Decimal("100.50") + Decimal("150.00")
    assert rows[refunded.payment_id]["matter_id"] == matter.matter_id
    assert rows[refunded.payment_id]["payer_name"] == 'Smith, "Jr."'
    assert rows[plain.payment_id]["reference"] == '\'=HYPERLINK("http://evil")'
    assert (rows[lost.payment_id]["dispute_status"], rows[lost.payment_id]["disputes_lost"]) == (
        "lost",
        "30.00",
    )
    assert (rows[returned.payment_id]["returned"], rows[returned.payment_id]["returned_reason"]) == (
        "40.00",
        "R10",
    )

    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert parsed(await firm.get("/v1/payments.csv", **{"from": tomorrow})) == []


async def test_a_zero_decimal_currency_is_exported_in_its_own_units(firm) -> None:  # type: ignore[no-untyped-def]
    """5,000 JPY is "50000" in both CSV files, never "500.00": the ISO 4217 exponent, not a fixed 100."""
    trust = firm.bank_account("Trust JPY", kind="trust").model_copy(update={"currency": "JPY"})
    operating = firm.bank_account().model_copy(update={"currency": "JPY"})
    paid = firm.received(trust.bank_account_id, amount=50000, currency="JPY")
    refund = firm.refund_requested(paid, 1234)
    fee = firm.fee(paid, operating.bank_account_id, 1480)
    payout = firm.payout(
        trust.bank_account_id,
        PayoutLine(type="payment", payment_id=paid.payment_id, amount=50000),
        PayoutLine(type="refund", payment_id=paid.payment_id, refund_id=refund.refund_id, amount=-1234),
    ).model_copy(update={"currency": "JPY"})
    await firm.publish(
        trust,
        operating,
        paid,
        firm.processed(paid, fee=1480, currency="JPY"),
        fee,
        refund,
        firm.refund_succeeded(refund),
        payout,
    )
    await eventually(lambda: _payment_has(firm, paid.payment_id, "payout_id", payout.payout_id))
    await eventually(lambda: _payment_has(firm, paid.payment_id, "refunded_amount", 1234))

    [row] = parsed(await firm.get("/v1/payments.csv"))
    assert (row["currency"], row["amount"], row["fee"], row["refunded"], row["net"]) == (
        "JPY",
        "50000",
        "1480",
        "1234",
        "48766",
    )
    lines = parsed(await firm.get("/v1/deposits.csv"))
    assert [(r["currency"], r["payout_amount"], r["line_type"], r["amount"]) for r in lines] == [
        ("JPY", "48766", "payment", "50000"),
        ("JPY", "48766", "refund", "-1234"),
    ]
    [deposit] = await deposits(firm)
    assert (deposit["currency"], deposit["amount"]) == ("JPY", 48766)
    assert sum(Decimal(r["amount"]) for r in lines) == deposit["amount"]  # minor units are the units


async def test_the_payments_export_totals_the_trust_reconciliation_client_by_client(firm) -> None:  # type: ignore[no-untyped-def]
    """Summed per matter or contact, the export's trust rows are the client ledgers and the unidentified money
    of GET /v1/trust-reconciliation: a bill payment is its bill's client's money in both."""
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    contact, matter = await firm.practice()
    other = firm.contact("Lee Other")
    bill = firm.bill(matter)
    await firm.publish(trust, operating, other, bill)
    await eventually(lambda: _knows(firm, "contacts", "contact_id", other.contact_id))
    t = trust.bank_account_id
    billed = firm.received(t, amount=7000, bill_id=bill.bill_id, source="bill_link")
    for_matter, for_contact = firm.received(t, amount=10000), firm.received(t, amount=3000)
    unknown, elsewhere = firm.received(t, amount=4000), firm.received(operating.bank_account_id, amount=900)
    refund = firm.refund_requested(unknown, 1000)
    await firm.publish(
        *(e for r in (billed, for_matter, for_contact, unknown, elsewhere) for e in (r, firm.processed(r))),
        refund,
        firm.refund_succeeded(refund),
    )
    for payment, target in (
        (for_matter, {"matter_id": matter.matter_id}),
        (for_contact, {"contact_id": other.contact_id}),
    ):
        await firm.wait_for_status(payment.payment_id, "ready")
        linked = await firm.client.post(
            f"/v1/payments/{payment.payment_id}/link", json=target, headers=firm.headers
        )
        assert linked.status_code == 200, linked.text

    async def settled() -> dict[str, Any] | None:
        response = await firm.get("/v1/trust-reconciliation", bank_account_id=t)
        body: dict[str, Any] = response.json()
        return body if (body["ledger"], body["unidentified"]) == (23000, 3000) else None

    reconciliation = await eventually(settled)
    assert reconciliation["balanced"]

    rows = parsed(await firm.get("/v1/payments.csv"))
    by_client: dict[tuple[str | None, str | None], Decimal] = {}
    for row in (r for r in rows if r["bank_account_kind"] == "trust"):
        client = (row["matter_id"] or None, row["contact_id"] or None)
        by_client[client] = by_client.get(client, Decimal(0)) + Decimal(row["net"]) * 100
    expected = {(c["matter_id"], c["contact_id"]): c["balance"] for c in reconciliation["client_ledgers"]}
    assert by_client.pop((None, None)) == reconciliation["unidentified"]
    assert by_client == expected
    assert expected == {(matter.matter_id, contact.contact_id): 17000, (None, other.contact_id): 3000}
    [bill_row] = [r for r in rows if r["payment_id"] == billed.payment_id]
    assert (bill_row["bill_id"], bill_row["matter_number"], bill_row["contact_name"]) == (
        bill.bill_id,
        matter.number,
        contact.name,
    )


async def _knows(firm, table: str, column: str, value: str) -> bool:  # type: ignore[no-untyped-def]
    query = f"SELECT true FROM {table} WHERE firm_id = $1 AND {column} = $2"  # noqa: S608
    return bool(await firm.pool.fetchval(query, firm.id, value))


async def _has_deposits(firm, count: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await deposits(firm)) == count


async def _payment_has(firm, payment_id: str, field: str, expected: Any) -> bool:  # type: ignore[no-untyped-def]
    payment = await firm.payment(payment_id)
    if payment is None:
        return False
    return bool(expected(payment[field])) if callable(expected) else bool(payment[field] == expected)


async def test_the_money_endpoints_need_a_staff_token(firm) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v1/deposits", "/v1/deposits.csv", "/v1/payments.csv", "/v1/trust-reconciliation"):
        assert (await firm.client.get(path, params={"bank_account_id": "x"})).status_code == 401
    bad_date = await firm.get("/v1/payments.csv", **{"from": "last tuesday"})
    assert bad_date.status_code == 422
