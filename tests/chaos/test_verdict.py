"""The checker itself (pure): given what a run left behind, it counts exactly the lost and duplicated effects
a missing protection would cause, and tolerates what at-least-once delivery legitimately repeats."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from paylinks_runtime.card_data import CVC, OK_ACCOUNT, OK_CARD, ROUTING, CardDataScan

from .evidence import (
    AppliedRow,
    BillRow,
    Evidence,
    Mail,
    ProcessorRefund,
    ProjectedPayment,
    ProjectedReversal,
)
from .load import Ledger
from .reversals import AcceptedRefund, OpenedReversal
from .settle import still_busy
from .trust import TrustBalance, TrustEvidence
from .verdict import Verdict, verify
from .workload import (
    ACCOUNT_CARD,
    ACCOUNT_ECHECK,
    ACCOUNT_RETURNED,
    BANK_RETURN,
    BILL_CARD,
    DISPUTE_LOST,
    REFUND_FULL,
    REFUND_PARTS,
    PlannedPayment,
    payer,
    recipient,
)

pytestmark = pytest.mark.unit
FIRM, BILL = "firm-a", "bill-1"


def record(event_type: str, data: dict[str, object], event_id: str | None = None) -> ConsumerRecord:
    headers = [("ce_id", (event_id or str(uuid.uuid4())).encode()), ("ce_type", event_type.encode())]
    headers.append(("ce_firmid", FIRM.encode()))
    value = json.dumps({"firm_id": FIRM, **data}).encode()
    return ConsumerRecord("t", 0, 0, 0, 0, b"k", value, None, 1, len(value), headers)


def mail_for(event: ConsumerRecord, message_id: str | None = None, to: str | None = None) -> Mail:
    event_id = dict(event.headers)["ce_id"].decode()
    to = to or recipient(FIRM)
    return Mail(to, message_id or f"<{event_id}.{to}@x>", event_id)


def receipt(event: ConsumerRecord) -> Mail:
    """The payer's email about the event (a receipt, a refund notice)."""
    return mail_for(event, to=payer(FIRM))


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
        mails=[*(mail_for(e) for e in events[:6]), receipt(events[3]), receipt(events[5])],
        lag={},
    )
    return ledger, evidence


def test_a_clean_run_has_nothing_lost_or_duplicated(run: tuple[Ledger, Evidence]) -> None:
    verdict = verify(*run)
    assert verdict.clean, verdict.summary()
    assert verdict.checked["emails"] == 8


def test_card_data_anywhere_or_an_unread_processor_log_makes_the_run_unclean(
    run: tuple[Ledger, Evidence], tmp_path: Path
) -> None:
    ledger, evidence = run
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "processor-sandbox.log").write_text('{"event": "charge taken", "last4": "4242"}\n')
    (logs / "link-service.log").write_text('{"event": "payment accepted", "amount": 739}\n')
    scan = CardDataScan()
    scan.logs(logs.glob("*.log"))
    assert verify(ledger, replace(evidence, card_data=scan)).clean
    assert verify(ledger, replace(evidence, card_data=scan)).checked["log lines scanned for card data"] == 2

    (logs / "notifier.log").write_text(f'{{"event": "sent", "body": "card {OK_CARD} cvc {CVC}"}}\n')
    leaky = CardDataScan()
    leaky.logs(logs.glob("*.log"))
    leaky.look("emails", "x.eml", f"Routing {ROUTING}, account {OK_ACCOUNT}")
    verdict = verify(ledger, replace(evidence, card_data=leaky))
    assert verdict.card_data == {"in log lines": 1, "in emails": 1}
    assert not verdict.clean
    assert "notifier.log:1: " in verdict.summary()  # where, which test number, the line masked
    assert "x.eml: " in verdict.summary()

    (logs / "processor-sandbox.log").write_text("")
    empty = CardDataScan()
    empty.logs(logs.glob("processor*.log"))
    assert verify(ledger, replace(evidence, card_data=empty)).card_data == {
        "scan incomplete: no line of the processor's log read": 1
    }


def test_a_payers_receipt_missing_or_sent_twice_is_caught(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    *staff, first, second = evidence.mails
    assert verify(ledger, replace(evidence, mails=[*staff, second])).lost == {
        "PaymentProcessed email to the payer": 1
    }
    twice = [*evidence.mails, replace(first, message_id="<another@x>")]
    assert verify(ledger, replace(evidence, mails=twice)).duplicated == {
        "PaymentProcessed email to the payer": 1
    }


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


# --- money that goes back -----------------------------------------------------------------------------------

BILL_2 = "bill-2"


@pytest.fixture
def money_run(run: tuple[Ledger, Evidence]) -> tuple[Ledger, Evidence]:
    """The clean run, and: p4 (1000) refunded in two parts of 333 at once; p5 (2000) disputed and lost; p6,
    an eCheck of 500, returned by the bank; p7 (700 on bill-2 of 600: 100 unallocated) refunded in full,
    100 off its unallocated part and 600 off the bill."""
    ledger, evidence = run
    plans = {
        "p4": PlannedPayment("k4", FIRM, "t", ACCOUNT_CARD, 1000, None, REFUND_PARTS),
        "p5": PlannedPayment("k5", FIRM, "t", ACCOUNT_CARD, 2000, None, DISPUTE_LOST),
        "p6": PlannedPayment("k6", FIRM, "t", ACCOUNT_ECHECK, 500, None, BANK_RETURN),
        "p7": PlannedPayment("k7", FIRM, "t", BILL_CARD, 700, BILL_2, REFUND_FULL),
    }
    ledger.accepted |= {p.key: (p, pid) for pid, p in plans.items()}
    back = ledger.reversals
    back.refunds += [
        AcceptedRefund("p4", "refund-0-k4", "r1", 333),
        AcceptedRefund("p4", "refund-1-k4", "r2", 333),
        AcceptedRefund("p7", "refund-0-k7", "r7", 700),
        AcceptedRefund("p7", "refund-0-k7", "r7", 700),  # asked again with the same key: the same refund
    ]
    back.opened["p5"] = OpenedReversal("p5", "dispute", 2000, "d5", "lost")
    back.opened["p6"] = OpenedReversal("p6", "return", 500, reason="R01")

    def refund(kind: str, payment_id: str, refund_id: str, amount: int) -> ConsumerRecord:
        return record(kind, {"payment_id": payment_id, "refund_id": refund_id, "amount": amount})

    staff_only = [
        *(_received(pid) for pid in plans),
        record("PaymentDisputed", {"payment_id": "p5", "dispute_id": "d5", "amount": 2000}),
        record("DisputeClosed", {"payment_id": "p5", "dispute_id": "d5", "outcome": "lost", "amount": 2000}),
        record("PaymentReturned", {"payment_id": "p6", "amount": 500, "reason": "R01"}),
    ]
    staff_and_payer = [
        *(record("PaymentProcessed", {"payment_id": pid}) for pid in plans),
        refund("RefundSucceeded", "p4", "r1", 333),
        refund("RefundSucceeded", "p4", "r2", 333),
        refund("RefundSucceeded", "p7", "r7", 700),
    ]
    silent = [
        refund("RefundRequested", "p4", "r1", 333),
        refund("RefundRequested", "p4", "r2", 333),
        refund("RefundRequested", "p7", "r7", 700),
        record(
            "FeeCharged",
            {"payment_id": "p5", "fee_id": "f5", "kind": "dispute", "amount": 1500, "bank_account_id": "ops"},
        ),
        record("BillPaymentApplied", {"payment_id": "p7", "bill_id": BILL_2, "amount": 600}),
        record("PaymentUnallocated", {"payment_id": "p7", "bill_id": BILL_2, "amount": 100}),
        record("BillPaymentReversed", {"payment_id": "p7", "bill_id": BILL_2, "amount": 600}),
    ]
    mails = [mail_for(e) for e in [*staff_only, *staff_and_payer]] + [receipt(e) for e in staff_and_payer]
    projection = [
        ProjectedPayment(pid, FIRM, p.expected_status, p.reference, p.amount, p.bill_id, None)
        for pid, p in plans.items()
    ]
    projection[1] = replace(projection[1], returned_amount=None)
    projection[2] = replace(projection[2], returned_amount=500, returned_reason="R01")
    projection[3] = replace(projection[3], unallocated_amount=100)
    money = replace(
        evidence,
        events=[*evidence.events, *staff_only, *staff_and_payer, *silent],
        projection=[*evidence.projection, *projection],
        bills=[*evidence.bills, BillRow(BILL_2, FIRM, 600, 600, "unpaid")],
        applied=[*evidence.applied, AppliedRow(BILL_2, "p7", 0, 600)],
        mails=[*evidence.mails, *mails],
        refunds=[
            ProjectedReversal(r.payment_id, r.refund_id, r.amount, "succeeded") for r in back.refunds[:3]
        ],
        disputes=[ProjectedReversal("p5", "d5", 2000, "lost")],
        processor_refunds=[
            ProcessorRefund(r.payment_id, r.refund_id, r.amount, "succeeded") for r in back.refunds[:3]
        ],
    )
    return ledger, money


def _type(e: ConsumerRecord) -> str:
    return dict(e.headers)["ce_type"].decode()


def _about(e: ConsumerRecord) -> str:
    data = json.loads(e.value)
    return str(data.get("refund_id") or data.get("dispute_id") or data["payment_id"])


def without_events(evidence: Evidence, kind: str, about: str) -> Evidence:
    """The evidence without the events of a kind about a refund, dispute or payment, nor their emails."""
    gone = [e for e in evidence.events if _type(e) == kind and _about(e) == about]
    assert gone, f"no {kind} about {about}"
    ids = {dict(e.headers)["ce_id"].decode() for e in gone}
    return replace(
        evidence,
        events=[e for e in evidence.events if e not in gone],
        mails=[m for m in evidence.mails if m.event_id not in ids],
    )


def test_a_run_that_sent_money_back_everywhere_once_is_clean(money_run: tuple[Ledger, Evidence]) -> None:
    verdict = verify(*money_run)
    assert verdict.clean, verdict.summary()
    assert verdict.checked["refunds at the processor"] == 3
    assert verdict.checked["bill payments reversed"] == 1


# An event that never came takes its emails with it: they are missing too.
_STAFF_AND_PAYER = ("RefundSucceeded email", "RefundSucceeded email to the payer")


@pytest.mark.parametrize(
    ("kind", "about", "lost"),
    [
        ("RefundRequested", "r1", ("RefundRequested event",)),
        ("RefundSucceeded", "r2", ("RefundSucceeded event", *_STAFF_AND_PAYER)),
        ("PaymentDisputed", "d5", ("PaymentDisputed event", "PaymentDisputed email")),
        ("DisputeClosed", "d5", ("DisputeClosed event", "DisputeClosed email")),
        ("FeeCharged", "p5", ("dispute fee",)),
        ("PaymentReturned", "p6", ("PaymentReturned event", "PaymentReturned email")),
        ("BillPaymentReversed", "p7", ("reversal missing from the events",)),
    ],
)
def test_a_reversal_event_that_never_came_is_lost(
    money_run: tuple[Ledger, Evidence], kind: str, about: str, lost: tuple[str, ...]
) -> None:
    ledger, evidence = money_run
    verdict = verify(ledger, without_events(evidence, kind, about))
    assert (verdict.lost, verdict.duplicated) == (dict.fromkeys(lost, 1), {})


def test_a_refund_missing_at_the_processor_in_reconciliation_or_from_the_bill_is_lost(
    money_run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = money_run
    at_processor = verify(ledger, replace(evidence, processor_refunds=evidence.processor_refunds[1:]))
    assert at_processor.lost == {"refund missing at the processor": 1}
    pending = replace(evidence.refunds[0], status="pending")
    in_reconciliation = verify(ledger, replace(evidence, refunds=[pending, *evidence.refunds[1:]]))
    assert in_reconciliation.lost == {"refund wrong in reconciliation": 1}
    kept = [*evidence.applied[:-1], AppliedRow(BILL_2, "p7", 600, 0)]
    paid = [*evidence.bills[:-1], BillRow(BILL_2, FIRM, 600, 0, "paid")]
    on_the_bill = verify(ledger, replace(evidence, applied=kept, bills=paid))
    assert on_the_bill.lost == {"reversal missing from the bill": 1}


def test_a_dispute_or_return_missing_from_reconciliation_or_closed_wrong_is_lost(
    money_run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = money_run
    still_open = verify(ledger, replace(evidence, disputes=[replace(evidence.disputes[0], status="open")]))
    assert still_open.lost == {"dispute wrong in reconciliation": 1}
    rows = [replace(p, returned_amount=None) if p.payment_id == "p6" else p for p in evidence.projection]
    assert verify(ledger, replace(evidence, projection=rows)).lost == {
        "return missing from reconciliation": 1
    }
    won = next(e for e in evidence.events if _type(e) == "DisputeClosed")
    flipped = replace(won, value=json.dumps({**json.loads(won.value), "outcome": "won"}).encode())
    events = [flipped if e is won else e for e in evidence.events]
    assert verify(ledger, replace(evidence, events=events)).lost == {
        "dispute closed with the wrong outcome": 1
    }


@pytest.mark.parametrize(
    ("to", "lost"),
    [(recipient(FIRM), "RefundSucceeded email"), (payer(FIRM), "RefundSucceeded email to the payer")],
)
def test_a_refund_email_missing_for_staff_or_payer_is_lost(
    money_run: tuple[Ledger, Evidence], to: str, lost: str
) -> None:
    ledger, evidence = money_run
    refunded = {dict(e.headers)["ce_id"].decode() for e in evidence.events if _type(e) == "RefundSucceeded"}
    first = next(m for m in evidence.mails if m.event_id in refunded and m.to == to)
    verdict = verify(ledger, replace(evidence, mails=[m for m in evidence.mails if m is not first]))
    assert verdict.lost == {lost: 1}


def test_a_refund_the_processor_made_twice_or_beyond_the_payment_is_duplicated(
    money_run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = money_run
    second = ProcessorRefund("p4", "r1-again", 333, "succeeded")
    twice = verify(ledger, replace(evidence, processor_refunds=[*evidence.processor_refunds, second]))
    assert twice.duplicated == {"refund at the processor nobody asked for": 1}
    beyond = replace(second, amount=500)
    too_much = verify(ledger, replace(evidence, processor_refunds=[*evidence.processor_refunds, beyond]))
    assert too_much.duplicated == {
        "refund at the processor nobody asked for": 1,
        "refunded more than the payment": 1,
    }


def test_a_reversal_applied_twice_to_the_bill_is_duplicated(money_run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = money_run
    again = record("BillPaymentReversed", {"payment_id": "p7", "bill_id": BILL_2, "amount": 600})
    verdict = verify(ledger, replace(evidence, events=[*evidence.events, again]))
    assert verdict.duplicated == {"reversal applied twice to the events": 1}
    table = [*evidence.applied[:-1], AppliedRow(BILL_2, "p7", -600, 1200)]
    twice = verify(
        ledger,
        replace(
            evidence, applied=table, bills=[*evidence.bills[:-1], BillRow(BILL_2, FIRM, 600, 1200, "unpaid")]
        ),
    )
    assert twice.duplicated == {"reversal applied twice to the bill": 1}


def test_a_retried_refund_that_became_a_second_refund_is_duplicated(
    money_run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = money_run
    ledger.reversals.refunds.append(AcceptedRefund("p7", "refund-0-k7", "r7-again", 700))
    verdict = verify(ledger, evidence)
    assert verdict.duplicated["refunds for one Idempotency-Key"] == 1
    assert verdict.duplicated["refunds accepted beyond the payment"] == 1


def test_refunds_the_system_made_that_nobody_asked_for_are_duplicated(
    money_run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = money_run
    ledger.reversals.refunds = [r for r in ledger.reversals.refunds if r.refund_id != "r2"]
    ledger.reversals.refused.append(("p4", 422, "amount_exceeds_refundable"))  # what the client was told
    verdict = verify(ledger, evidence)
    assert verdict.duplicated == {
        "refund nobody asked for": 2,  # requested and succeeded
        "refund at the processor nobody asked for": 1,
        "refund in reconciliation nobody asked for": 1,
    }
    assert verdict.lost == {"refund refused though the money was there": 1}
    refused = [line for line in verdict.problems if "refused though" in line]
    assert refused == [
        "LOST refund refused though the money was there:"
        " p4 (two partial refunds at once: 422 amount_exceeds_refundable)"
    ]


def test_a_dispute_or_return_nobody_opened_is_duplicated(money_run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = money_run
    stray = record("PaymentReturned", {"payment_id": "p4", "amount": 1000, "reason": "R10"})
    verdict = verify(ledger, replace(evidence, events=[*evidence.events, stray]))
    assert verdict.duplicated == {"dispute or return nobody opened": 1}


def test_a_refund_the_processor_failed_is_lost(money_run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = money_run
    failed = record("RefundFailed", {"payment_id": "p4", "refund_id": "r2", "reason": "payment_returned"})
    refunds = [
        *evidence.processor_refunds[:1],
        replace(evidence.processor_refunds[1], status="failed"),
        *evidence.processor_refunds[2:],
    ]
    verdict = verify(ledger, replace(evidence, events=[*evidence.events, failed], processor_refunds=refunds))
    assert verdict.lost == {"refund failed": 1, "refund not paid by the processor": 1}


def _won(ledger: Ledger, evidence: Evidence) -> Evidence:
    """p5's dispute won instead: closed won in the events and in reconciliation (the fee not given back)."""
    ledger.reversals.opened["p5"] = replace(ledger.reversals.opened["p5"], outcome="won")
    closed = next(e for e in evidence.events if _type(e) == "DisputeClosed")
    won = replace(closed, value=json.dumps({**json.loads(closed.value), "outcome": "won"}).encode())
    events = [won if e is closed else e for e in evidence.events]
    return replace(evidence, events=events, disputes=[replace(evidence.disputes[0], status="won")])


def _fee_back() -> ConsumerRecord:
    data = {"payment_id": "p5", "fee_id": "f5", "kind": "dispute", "amount": -1500, "bank_account_id": "ops"}
    return record("FeeCharged", data)


def test_a_won_dispute_gives_its_fee_back_once_and_a_lost_one_never(
    money_run: tuple[Ledger, Evidence],
) -> None:
    ledger, evidence = money_run
    lost_with_fee_back = verify(ledger, replace(evidence, events=[*evidence.events, _fee_back()]))
    assert lost_with_fee_back.duplicated == {"dispute fee given back": 1}
    won = _won(ledger, evidence)
    assert verify(ledger, won).lost == {"dispute fee given back": 1}
    verdict = verify(ledger, replace(won, events=[*won.events, _fee_back()]))
    assert verdict.clean, verdict.summary()


def test_no_receipt_is_expected_for_a_payer_who_gave_no_address(run: tuple[Ledger, Evidence]) -> None:
    ledger, evidence = run
    plan, payment_id = ledger.accepted["k1"]
    ledger.accepted["k1"] = (replace(plan, payer_emailed=False), payment_id)
    receipt_of_p1 = evidence.mails[-2]
    verdict = verify(ledger, replace(evidence, mails=[m for m in evidence.mails if m is not receipt_of_p1]))
    assert verdict.clean, verdict.summary()
