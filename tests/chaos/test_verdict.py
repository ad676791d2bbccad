"""The checker itself (pure): given what a run left behind, it counts exactly the lost and duplicated effects
a missing protection would cause, and tolerates what at-least-once delivery legitimately repeats."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord

from .evidence import AppliedRow, BillRow, Evidence, Mail, ProjectedPayment
from .load import Ledger
from .settle import still_busy
from .trust import TrustBalance, TrustEvidence
from .verdict import Verdict, verify
from .workload import ACCOUNT_CARD, ACCOUNT_RETURNED, BILL_CARD, PlannedPayment, recipient

pytestmark = pytest.mark.unit
FIRM, BILL = "firm-a", "bill-1"


def record(event_type: str, data: dict[str, object], event_id: str | None = None) -> ConsumerRecord:
    headers = [("ce_id", (event_id or str(uuid.uuid4())).encode()), ("ce_type", event_type.encode())]
    headers.append(("ce_firmid", FIRM.encode()))
    value = json.dumps({"firm_id": FIRM, **data}).encode()
    return ConsumerRecord("t", 0, 0, 0, 0, b"k", value, None, 1, len(value), headers)


def mail_for(event: ConsumerRecord, message_id: str | None = None) -> Mail:
    event_id = dict(event.headers)["ce_id"].decode()
    return Mail(recipient(FIRM), message_id or f"<{event_id}@x>", event_id)


@pytest.fixture
def run() -> tuple[Ledger, Evidence]:
    """A clean run: a card payment, a returned eCheck, and a bill payment of 700 on a bill of 500."""
    plans = {
        "p1": PlannedPayment("k1", FIRM, "t", ACCOUNT_CARD, 1000),
        "p2": PlannedPayment("k2", FIRM, "t", ACCOUNT_RETURNED, 300),
        "p3": PlannedPayment("k3", FIRM, "t", BILL_CARD, 700, BILL),
    }
    ledger = Ledger(accepted={p.key: (p, pid) for pid, p in plans.items()})
    events = [
        *(record("PaymentReceived", {"payment_id": pid}) for pid in plans),
        record("PaymentProcessed", {"payment_id": "p1"}),
        record("PaymentFailed", {"payment_id": "p2"}),
        record("PaymentProcessed", {"payment_id": "p3"}),
        record("BillPaymentApplied", {"payment_id": "p3", "amount": 500}),
        record("PaymentUnallocated", {"payment_id": "p3", "amount": 200}),
    ]
    projection = [
        ProjectedPayment(pid, FIRM, p.expected_status, p.reference, p.amount, p.bill_id, None)
        for pid, p in plans.items()
    ]
    projection[2] = replace(projection[2], unallocated_amount=200)
    evidence = Evidence(
        events=events,
        dead_letters=[],
        projection=projection,
        bills=[BillRow(BILL, FIRM, 500, 0, "paid")],
        applied=[AppliedRow(BILL, "p3", 500)],
        mails=[mail_for(e) for e in events[:6]],
        lag={},
    )
    return ledger, evidence


def test_a_clean_run_has_nothing_lost_or_duplicated(run: tuple[Ledger, Evidence]) -> None:
    verdict = verify(*run)
    assert verdict.clean, verdict.summary()
    assert verdict.checked["emails"] == 6


def test_a_payment_missing_from_reconciliation_or_stuck_pending_is_lost(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    stuck = replace(evidence.projection[0], status="pending")
    verdict = verify(ledger, replace(evidence, projection=[stuck, evidence.projection[2]]))
    assert verdict.lost == {"payment wrong in reconciliation": 1, "payment missing from reconciliation": 1}


def test_a_second_payment_for_one_idempotency_key_is_duplicated(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    twin = replace(evidence.projection[0], payment_id="p9")
    extra = [*evidence.projection, twin]
    verdict = verify(ledger, replace(evidence, projection=extra, events=[*evidence.events, _received("p9")]))
    assert verdict.duplicated == {
        "reconciliation row the API never accepted": 1,
        "payments for one Idempotency-Key": 1,
        "payment the API never accepted": 1,
    }


def test_an_event_published_twice_under_two_ids_is_duplicated_but_a_redelivered_id_is_not(
    run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = run
    again = evidence.events[0]  # the same record (same ce_id) delivered twice: tolerated
    verdict = verify(ledger, replace(evidence, events=[*evidence.events, again, _received("p1")]))
    assert verdict.duplicated == {"PaymentReceived event": 1}
    assert verdict.notes["event delivered again (same ce_id)"] == 1


def test_a_missing_outcome_or_the_wrong_one_is_lost(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    events = [e for e in evidence.events if dict(e.headers)["ce_type"] != b"PaymentFailed"]
    events.append(record("PaymentProcessed", {"payment_id": "p2"}))
    verdict = verify(ledger, replace(evidence, events=events))
    assert verdict.lost["PaymentFailed event"] == 1
    assert verdict.lost["payment with the wrong outcome"] == 1


def test_a_bill_payment_applied_twice_or_only_in_part_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    twice = verify(ledger, replace(evidence, applied=[*evidence.applied, AppliedRow(BILL, "p3", 500)]))
    assert twice.duplicated["bill payment settled twice"] == 1
    assert twice.lost["money applied but not off the balance"] == 1
    lowered = verify(ledger, replace(evidence, bills=[BillRow(BILL, FIRM, 1000, 0, "paid")]))
    assert lowered.duplicated == {"balance lowered twice": 1}
    events = [e for e in evidence.events if dict(e.headers)["ce_type"] != b"PaymentUnallocated"]
    part = verify(ledger, replace(evidence, events=events))
    assert part.lost["bill payment not settled in full"] == 1
    assert part.lost["unallocated money not shown to staff"] == 1


def test_emails_missing_or_sent_twice_are_caught_but_a_resent_message_id_is_tolerated(
    run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = run
    first = evidence.mails[0]
    mails = [*evidence.mails[1:], replace(first, message_id="<other@x>"), first, first]
    verdict = verify(ledger, replace(evidence, mails=mails))
    assert verdict.duplicated == {"PaymentReceived email": 1}
    assert verdict.notes["email re-sent with the same Message-ID"] == 1
    assert verify(ledger, replace(evidence, mails=evidence.mails[1:])).lost == {"PaymentReceived email": 1}


def test_a_dead_lettered_event_and_an_unanswered_payment_are_lost(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    ledger.unresolved["k4"] = (PlannedPayment("k4", FIRM, "t", ACCOUNT_CARD, 5), "503")
    verdict = verify(ledger, replace(evidence, dead_letters=[evidence.events[0]]))
    assert verdict.lost == {"payment never answered": 1, "event dead-lettered": 1}


def _received(payment_id: str) -> ConsumerRecord:
    return record("PaymentReceived", {"payment_id": payment_id})


# --- trust accounts -----------------------------------------------------------------------------------------

TRUST, OPERATING = "acct-trust", "acct-operating"
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def payout(payout_id: str, account: str, *lines: dict[str, object]) -> ConsumerRecord:
    amount = sum(int(str(line["amount"])) for line in lines)
    data = {
        "payout_id": payout_id,
        "bank_account_id": account,
        "amount": amount,
        "arrival_date": "2026-11-30",
    }
    return record("PayoutPaid", {**data, "lines": list(lines)})


def fee(account: str) -> ConsumerRecord:
    data = {
        "fee_id": "fee-1",
        "payment_id": "t1",
        "kind": "processing",
        "amount": 320,
        "bank_account_id": account,
    }
    return record("FeeCharged", {**data, "charged_at": "2026-11-02T00:00:00+00:00"})


@pytest.fixture
def trust_run(run: tuple[Ledger, Evidence]) -> tuple[Ledger, Evidence]:
    """Into trust: 10000 processed, 2500 refunded, 4000 processed and lost in a dispute; 10000 paid out.
    Ledger 7500 = deposited 10000 + in transit -2500 = client 6000 + unidentified 1500."""
    ledger, evidence = run
    at = "2026-11-01T00:00:00+00:00"
    money = [
        record(
            "PaymentProcessed",
            {"payment_id": "t1", "bank_account_id": TRUST, "amount": 10000, "processed_at": at},
        ),
        record(
            "PaymentProcessed",
            {"payment_id": "t2", "bank_account_id": TRUST, "amount": 4000, "processed_at": at},
        ),
        record(
            "FeeCharged", {"fee_id": "f1", "payment_id": "t1", "amount": 320, "bank_account_id": OPERATING}
        ),
        record(
            "RefundSucceeded",
            {
                "refund_id": "r1",
                "payment_id": "t1",
                "bank_account_id": TRUST,
                "amount": 2500,
                "succeeded_at": at,
            },
        ),
        record(
            "DisputeClosed",
            {"dispute_id": "d1", "payment_id": "t2", "outcome": "lost", "amount": 4000, "closed_at": at},
        ),
    ]
    balance = TrustBalance(FIRM, TRUST, AS_OF, 10000, -2500, 7500, (6000,), 1500)
    trust = TrustEvidence(
        account_kinds={TRUST: "trust", OPERATING: "operating"},
        payouts=[payout("po1", TRUST, {"type": "payment", "payment_id": "t1", "amount": 10000})],
        balances=[balance],
    )
    return ledger, replace(evidence, events=[*evidence.events, *money], trust=trust)


def trust_findings(verdict: Verdict) -> dict[str, int]:
    """What the trust check found (the rest of the verdict flags the trust payments: not the load's)."""
    found = {**verdict.lost, **verdict.duplicated}
    return {what: n for what, n in found.items() if "trust" in what}


def test_a_balanced_trust_account_that_agrees_with_its_events_is_clean(
    trust_run: tuple[Ledger, Evidence],
) -> None:
    verdict = verify(*trust_run)
    assert trust_findings(verdict) == {}
    assert verdict.checked["trust accounts reconciled"] == 1


def test_a_broken_identity_is_caught(trust_run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = trust_run
    broken = replace(evidence.trust.balances[0], client_balances=(5000,))  # 1000 of client money unaccounted
    verdict = verify(ledger, replace(evidence, trust=replace(evidence.trust, balances=[broken])))
    assert trust_findings(verdict) == {"trust reconciliation out of balance": 1}


def test_a_ledger_that_misses_or_doubles_a_movement_is_caught(trust_run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = trust_run
    for reported, lost, duplicated in ((5000, 1, 0), (10000, 0, 1)):
        skewed = replace(evidence.trust.balances[0], ledger=reported, in_transit=reported - 10000)
        skewed = replace(skewed, unidentified=reported - 6000)  # still balanced: only the events disagree
        verdict = verify(ledger, replace(evidence, trust=replace(evidence.trust, balances=[skewed])))
        assert verdict.lost["trust ledger short of its events"] == lost
        assert verdict.duplicated["trust ledger counts money twice"] == duplicated
        assert "trust reconciliation out of balance" not in verdict.lost


def test_a_fee_in_a_trust_account_is_caught_charged_or_paid_out(trust_run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = trust_run
    netted = payout("po2", TRUST, {"type": "fee", "payment_id": "t1", "fee_id": "fee-1", "amount": -320})
    reported = replace(evidence.trust.balances[0], deposited=9680, in_transit=-2180)  # the netted deposit
    trust = replace(evidence.trust, payouts=[*evidence.trust.payouts, netted], balances=[reported])
    verdict = verify(ledger, replace(evidence, events=[*evidence.events, fee(TRUST)], trust=trust))
    assert trust_findings(verdict) == {"fee taken from a trust account": 2}


def test_an_email_to_another_firms_staff_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    misdirected = replace(evidence.mails[0], to=recipient("firm-b"))
    verdict = verify(ledger, replace(evidence, mails=[misdirected, *evidence.mails[1:]]))
    assert verdict.lost == {"email to another firm's staff": 1}


def test_a_payment_under_another_firm_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    moved = replace(evidence.projection[0], firm_id="firm-b")
    verdict = verify(ledger, replace(evidence, projection=[moved, *evidence.projection[1:]]))
    assert verdict.lost == {"payment shown under another firm": 1}


def test_money_applied_to_another_bill_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    other = [BillRow(BILL, FIRM, 500, 0, "paid"), BillRow("bill-2", FIRM, 500, 0, "paid")]
    verdict = verify(ledger, replace(evidence, bills=other, applied=[AppliedRow("bill-2", "p3", 500)]))
    assert verdict.lost["money applied to another bill"] == 1


def test_a_wrong_bill_on_the_reconciliation_row_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    wrong = replace(evidence.projection[2], bill_id="bill-2")
    verdict = verify(ledger, replace(evidence, projection=[*evidence.projection[:2], wrong]))
    assert verdict.lost == {"payment shown against another bill": 1}


def test_an_event_under_another_firm_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    stray = evidence.events[0]
    data = {**json.loads(stray.value), "firm_id": "firm-b"}
    moved = replace(stray, value=json.dumps(data).encode())
    verdict = verify(ledger, replace(evidence, events=[moved, *evidence.events[1:]]))
    assert verdict.lost == {"event under another firm": 1}


def test_the_verdict_waits_for_every_consumer_and_every_outbox(run: tuple[Ledger, Evidence]) -> None:
    _, evidence = run
    assert still_busy(replace(evidence, lag={"billing": 0}, outboxes={"link-service": 0})) is None
    assert still_busy(replace(evidence, lag={"billing": 3}, outboxes={"link-service": 0})) is not None
    assert still_busy(replace(evidence, lag={"billing": 0}, outboxes={"link-service": 2})) is not None
