"""Judges the evidence against the ledger (pure): every accepted payment once, with the right outcome, in
every place it must be (events, reconciliation, bills, emails); nothing the API never accepted; nothing twice.

"Lost" and "duplicated" count effects, not final states: a payment applied twice to a bill shows as money
beyond the bill's amount, a second email as a second Message-ID for the same payment and kind, a second
payment for one Idempotency-Key as a second row carrying its reference.

Money that goes back the same way: a refund, dispute or return the load made is lost when it is missing
anywhere it must appear (its events, the processor, billing's reversal and the bill, reconciliation's
refunds, disputes and returned amount, the trust ledger, the staff's and payer's emails); duplicated when
money went back twice (a second refund for one ask, a reversal applied twice, more refunded than paid)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from paylinks_runtime.card_data import CardDataScan

from .evidence import AppliedRow, Evidence, Mail, header
from .load import Ledger
from .report import ChaosReport
from .reversals import AcceptedRefund, OpenedReversal, ReversalLedger
from .trust import TrustBalance
from .workload import (
    BILL_CARD,
    FAILED,
    PROCESSED,
    RECEIVED,
    REFUND_FULL,
    REFUND_PARTS,
    REFUND_RACE,
    PlannedPayment,
    payer,
    recipient,
)

EXAMPLES = 20  # problems listed in a failure message, at most
BILL_EVENTS = ("BillPaymentApplied", "PaymentUnallocated")
PROCESSOR_LOG = "processor-sandbox.log"


@dataclass
class Verdict:
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # tolerated: the same id delivered again
    card_data: Counter[str] = field(default_factory=Counter)  # places holding a card or bank number, by kind
    problems: list[str] = field(default_factory=list)

    def lose(self, what: str, detail: str) -> None:
        self.lost[what] += 1
        self._example(f"LOST {what}: {detail}")

    def duplicate(self, what: str, detail: str) -> None:
        self.duplicated[what] += 1
        self._example(f"DUPLICATED {what}: {detail}")

    def _example(self, line: str) -> None:
        if len(self.problems) < EXAMPLES:
            self.problems.append(line)

    @property
    def clean(self) -> bool:
        return not self.lost and not self.duplicated and not self.card_data

    def record(self, report: ChaosReport) -> None:
        for section in ("checked", "lost", "duplicated", "notes", "card_data"):
            report.merge(section, getattr(self, section))

    def summary(self) -> str:
        counts = (
            f"lost {dict(self.lost)}, duplicated {dict(self.duplicated)}, card data {dict(self.card_data)}"
        )
        return "\n".join([counts, *self.problems])


class EventIndex:
    """The events of a run by payment: distinct ids per (payment, type), and copies of each id."""

    def __init__(self, records: list[ConsumerRecord]) -> None:
        self.ids: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.data: dict[str, dict[str, object]] = {}
        self.event_of: dict[str, tuple[str, str]] = {}
        self.part_of: dict[str, str] = {}  # event id -> the refund, dispute or fee kind it is about
        self.copies: Counter[str] = Counter()
        for record in records:
            self._add(record)

    def _add(self, record: ConsumerRecord) -> None:
        event_id, kind = header(record, "ce_id") or "", header(record, "ce_type") or ""
        data = json.loads(record.value)
        payment_id = str(data.get("payment_id", ""))
        if not payment_id:
            return  # bill events without a payment (issued, paid, voided)
        self.ids[(payment_id, kind)].add(event_id)
        self.data[event_id] = data
        self.event_of[event_id] = (payment_id, kind)
        self.part_of[event_id] = str(
            data.get("refund_id") or data.get("dispute_id") or data.get("kind") or ""
        )
        self.copies[event_id] += 1

    def once(self, payment_id: str, kind: str) -> list[str]:
        return sorted(self.ids.get((payment_id, kind), ()))

    def by_part(self, payment_id: str, kind: str) -> dict[str, list[str]]:
        """The payment's events of a kind by what they are about (refund id, dispute id, fee kind)."""
        parts: dict[str, list[str]] = defaultdict(list)
        for event_id in self.once(payment_id, kind):
            parts[self.part_of[event_id]].append(event_id)
        return parts

    def amounts(self, payment_id: str, kind: str) -> int:
        return sum(int(str(self.data[i]["amount"])) for i in self.once(payment_id, kind))

    @property
    def payment_ids(self) -> set[str]:
        return {payment_id for payment_id, _ in self.ids}


def verify(ledger: Ledger, evidence: Evidence) -> Verdict:
    verdict = Verdict()
    index = EventIndex(evidence.events)
    accepted = ledger.by_payment_id()
    for plan, last in ledger.unresolved.values():
        verdict.lose("payment never answered", f"{plan.key} ({last})")
    _check_events(accepted, index, verdict)
    _check_projection(accepted, evidence, verdict)
    _check_bills(accepted, evidence, index, verdict)
    _check_emails(accepted, ledger.reversals, evidence.mails, index, verdict)
    _check_money_back(accepted, ledger.reversals, evidence, index, verdict)
    _check_trust(evidence, verdict)
    _check_attribution(accepted, evidence, index, verdict)
    for record in evidence.dead_letters:
        verdict.lose("event dead-lettered", f"{header(record, 'ce_type')} {header(record, 'dlq_reason')}")
    if evidence.card_data is not None:
        _check_card_data(evidence.card_data, verdict)
    verdict.checked["events on payment.events and billing.events"] += len(evidence.events)
    verdict.checked["dead-letter records of the firms"] += len(evidence.dead_letters)
    return verdict


def _check_card_data(scan: CardDataScan, verdict: Verdict) -> None:
    """No card number, CVC, bank account or routing number anywhere; and the processor's log was read."""
    for found in scan.found:
        verdict._example(f"CARD DATA {found}")
    verdict.card_data.update({f"in {kind}": n for kind, n in scan.found_in.items()})
    if not scan.log_lines[PROCESSOR_LOG]:
        verdict.card_data["scan incomplete: no line of the processor's log read"] += 1
    for kind, n in scan.read.items():
        verdict.checked[f"{kind} scanned for card data"] += n


def _check_events(accepted: dict[str, PlannedPayment], index: EventIndex, verdict: Verdict) -> None:
    for payment_id, plan in accepted.items():
        for kind in (RECEIVED, plan.outcome):
            _exactly_once(verdict, f"{kind} event", payment_id, index.once(payment_id, kind))
        wrong = FAILED if plan.outcome == PROCESSED else PROCESSED
        if index.once(payment_id, wrong):
            verdict.lose("payment with the wrong outcome", f"{payment_id} ({plan.kind}) got {wrong}")
    for payment_id in index.payment_ids - set(accepted):
        verdict.duplicate("payment the API never accepted", f"events for {payment_id}")
    verdict.notes["event delivered again (same ce_id)"] += sum(n - 1 for n in index.copies.values())


def _exactly_once(verdict: Verdict, what: str, payment_id: str, ids: list[str]) -> None:
    if not ids:
        verdict.lose(what, payment_id)
    elif len(ids) > 1:
        verdict.duplicate(what, f"{payment_id}: {len(ids)} distinct ids")


def _check_projection(accepted: dict[str, PlannedPayment], evidence: Evidence, verdict: Verdict) -> None:
    rows = {row.payment_id: row for row in evidence.projection}
    for payment_id, plan in accepted.items():
        row = rows.get(payment_id)
        if row is None:
            verdict.lose("payment missing from reconciliation", payment_id)
        elif (row.status, row.amount, row.reference) != (plan.expected_status, plan.amount, plan.reference):
            verdict.lose(
                "payment wrong in reconciliation",
                f"{payment_id} ({plan.kind}): {row.status}/{row.amount},"
                f" expected {plan.expected_status}/{plan.amount}",
            )
    for payment_id in set(rows) - set(accepted):
        verdict.duplicate("reconciliation row the API never accepted", payment_id)
    for reference, n in Counter(row.reference for row in evidence.projection).items():
        if n > 1:
            verdict.duplicate("payments for one Idempotency-Key", f"{reference}: {n}")
    verdict.checked["payments in reconciliation"] += len(rows)


def _check_bills(
    accepted: dict[str, PlannedPayment], evidence: Evidence, index: EventIndex, verdict: Verdict
) -> None:
    applied_rows: dict[str, list[int]] = defaultdict(list)
    applied_per_payment: Counter[str] = Counter()
    for row in evidence.applied:
        applied_rows[row.bill_id].append(row.amount)
        applied_per_payment[row.payment_id] += row.amount + row.reversed_amount  # as first applied
    for bill in evidence.bills:
        _check_balance(bill.bill_id, bill.amount - bill.balance, sum(applied_rows[bill.bill_id]), verdict)
        if (bill.balance == 0) != (bill.state == "paid"):
            verdict.lose(
                "bill in the wrong state", f"{bill.bill_id}: {bill.state} with balance {bill.balance}"
            )
    unallocated = {
        p: _unallocated(index, p, verdict) for p, plan in accepted.items() if plan.kind == BILL_CARD
    }
    projected = {row.payment_id: row.unallocated_amount for row in evidence.projection}
    for payment_id, left_over in unallocated.items():
        _check_settled(accepted[payment_id], payment_id, applied_per_payment[payment_id] + left_over, verdict)
        if payment_id in projected and (projected[payment_id] or 0) != left_over:
            verdict.lose(
                "unallocated money not shown to staff",
                f"{payment_id}: {projected[payment_id]} != {left_over}",
            )
    verdict.checked["bills"] += len(evidence.bills)
    verdict.checked["bill payments settled"] += len(unallocated)


def _check_balance(bill_id: str, paid_down: int, applied: int, verdict: Verdict) -> None:
    if paid_down < applied:
        verdict.lose("money applied but not off the balance", f"{bill_id}: {paid_down} < {applied}")
    elif paid_down > applied:
        verdict.duplicate("balance lowered twice", f"{bill_id}: {paid_down} > {applied}")


def _unallocated(index: EventIndex, payment_id: str, verdict: Verdict) -> int:
    for kind in BILL_EVENTS:
        if len(index.once(payment_id, kind)) > 1:
            verdict.duplicate(
                f"{kind} event", f"{payment_id}: {len(index.once(payment_id, kind))} distinct ids"
            )
    ids = index.once(payment_id, "PaymentUnallocated")
    return sum(int(index.data[i]["amount"]) for i in ids[:1])  # type: ignore[call-overload]


def _check_settled(plan: PlannedPayment, payment_id: str, settled: int, verdict: Verdict) -> None:
    """Applied + unallocated = the payment's amount: every cent of it lands somewhere, once."""
    if settled < plan.amount:
        verdict.lose("bill payment not settled in full", f"{payment_id}: {settled} of {plan.amount}")
    elif settled > plan.amount:
        verdict.duplicate("bill payment settled twice", f"{payment_id}: {settled} for {plan.amount}")


def _check_emails(
    accepted: dict[str, PlannedPayment],
    back: ReversalLedger,
    mails: list[Mail],
    index: EventIndex,
    verdict: Verdict,
) -> None:
    sent: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)  # (payment, kind, part, to) -> ids
    for mail in mails:
        about = index.event_of.get(mail.event_id)
        if about is None or about[0] not in accepted:
            verdict.duplicate("email about no accepted payment", f"{mail.message_id} (event {mail.event_id})")
            continue
        audience = "payer" if mail.to == payer(accepted[about[0]].firm_id) else "staff"
        sent[(*about, index.part_of[mail.event_id], audience)].add(mail.message_id)
    for payment_id, plan in accepted.items():
        for kind, part, audience in _expected_emails(plan, back, payment_id):
            what = f"{kind} email" + (" to the payer" if audience == "payer" else "")
            _exactly_once(verdict, what, payment_id, sorted(sent.get((payment_id, kind, part, audience), ())))
    copies = Counter(mail.message_id for mail in mails)
    verdict.notes["email re-sent with the same Message-ID"] += sum(n - 1 for n in copies.values())
    verdict.checked["emails"] += len(mails)


def _expected_emails(
    plan: PlannedPayment, back: ReversalLedger, payment_id: str
) -> list[tuple[str, str, str]]:
    """(event type, what it is about, to whom): the staff hear of everything, the payer of the receipt and
    of each refund."""
    expected = [(RECEIVED, "", "staff"), (plan.outcome, "", "staff")]
    if plan.outcome == PROCESSED and plan.payer_emailed:
        expected.append((PROCESSED, "", "payer"))
    for refund_id in back.refunds_of(payment_id):
        expected.append(("RefundSucceeded", refund_id, "staff"))
        if plan.payer_emailed:
            expected.append(("RefundSucceeded", refund_id, "payer"))
    opened = back.opened.get(payment_id)
    if opened is not None and opened.kind == "dispute":
        expected += [("PaymentDisputed", str(opened.dispute_id), "staff")]
        expected += [("DisputeClosed", str(opened.dispute_id), "staff")]
    elif opened is not None:
        expected.append(("PaymentReturned", "", "staff"))
    return expected


# --- money that goes back: refunds, disputes, returns ------------------------------------------------------

# How many refunds of each plan the system must accept: every ask that fits; of two racing asks that
# together exceed the payment, exactly one.
_REFUNDS_ACCEPTED = {REFUND_FULL: 1, REFUND_PARTS: 2, REFUND_RACE: 1}


def _check_money_back(
    accepted: dict[str, PlannedPayment],
    back: ReversalLedger,
    evidence: Evidence,
    index: EventIndex,
    verdict: Verdict,
) -> None:
    for what in back.unanswered:
        verdict.lose("reversal never made", what)
    _check_refund_answers(accepted, back, verdict)
    for payment_id, plan in accepted.items():
        refunds = back.refunds_of(payment_id)
        opened = back.opened.get(payment_id)
        _check_refund_events(payment_id, refunds, index, verdict)
        _check_opened_events(payment_id, opened, index, verdict)
        if plan.kind == BILL_CARD:
            taken = sum(r.amount for r in refunds.values()) + _kept_by_processor(opened)
            _check_bill_reversal(payment_id, taken, evidence.applied, index, verdict)
    _check_processor_refunds(accepted, back, evidence, verdict)
    _check_reversals_in_reconciliation(back, evidence, verdict)
    verdict.checked["refunds asked (202)"] += len(back.refunds)
    verdict.checked["disputes and returns opened"] += len(back.opened)


def _kept_by_processor(opened: OpenedReversal | None) -> int:
    """What a dispute or return finally took back (a won dispute gives it back)."""
    return 0 if opened is None or opened.outcome == "won" else opened.amount


def _check_refund_answers(
    accepted: dict[str, PlannedPayment], back: ReversalLedger, verdict: Verdict
) -> None:
    """What the API answered: one refund per Idempotency-Key, each ask that fits, never beyond the payment."""
    ids_per_key: dict[str, set[str]] = defaultdict(set)
    for refund in back.refunds:
        ids_per_key[refund.key].add(refund.refund_id)
    for key, ids in ids_per_key.items():
        if len(ids) > 1:
            verdict.duplicate("refunds for one Idempotency-Key", f"{key}: {len(ids)}")
    for payment_id, plan in accepted.items():
        refunds = back.refunds_of(payment_id)
        if sum(r.amount for r in refunds.values()) > plan.amount:
            verdict.duplicate("refunds accepted beyond the payment", f"{payment_id}: {len(refunds)} refunds")
        expected = _REFUNDS_ACCEPTED.get(plan.reversal or "", 0)
        if len(refunds) < expected and not any(plan.key in what for what in back.unanswered):
            answers = ", ".join(f"{status} {code}" for p, status, code in back.refused if p == payment_id)
            verdict.lose(
                "refund refused though the money was there", f"{payment_id} ({plan.reversal}: {answers})"
            )


def _check_refund_events(
    payment_id: str, refunds: dict[str, AcceptedRefund], index: EventIndex, verdict: Verdict
) -> None:
    for kind in ("RefundRequested", "RefundSucceeded"):
        parts = index.by_part(payment_id, kind)
        for refund_id in refunds:
            _exactly_once(verdict, f"{kind} event", f"{payment_id}/{refund_id}", parts.get(refund_id, []))
        for refund_id in set(parts) - set(refunds):
            verdict.duplicate("refund nobody asked for", f"{kind} {refund_id} of {payment_id}")
    for refund_id in index.by_part(payment_id, "RefundFailed"):
        verdict.lose("refund failed", f"{payment_id}/{refund_id}")


def _check_opened_events(
    payment_id: str, opened: OpenedReversal | None, index: EventIndex, verdict: Verdict
) -> None:
    """A dispute: opened, its fee, closed with the outcome the processor was told; a return: once."""
    expected: dict[str, str] = {}
    if opened is not None and opened.kind == "dispute":
        expected = {"PaymentDisputed": str(opened.dispute_id), "DisputeClosed": str(opened.dispute_id)}
    elif opened is not None:
        expected = {"PaymentReturned": ""}
    for kind in ("PaymentDisputed", "DisputeClosed", "PaymentReturned"):
        parts = index.by_part(payment_id, kind)
        if kind in expected:
            _exactly_once(verdict, f"{kind} event", payment_id, parts.get(expected[kind], []))
        for part in set(parts) - ({expected[kind]} if kind in expected else set()):
            verdict.duplicate("dispute or return nobody opened", f"{kind} {part} of {payment_id}")
    if "PaymentDisputed" in expected:
        _check_dispute_fee(payment_id, opened, index, verdict)
        for event_id in index.once(payment_id, "DisputeClosed"):
            if opened is not None and index.data[event_id].get("outcome") != opened.outcome:
                verdict.lose("dispute closed with the wrong outcome", f"{payment_id}: {index.data[event_id]}")


def _check_dispute_fee(
    payment_id: str, opened: OpenedReversal | None, index: EventIndex, verdict: Verdict
) -> None:
    """The dispute fee charged once (to the fee account), and given back once (a negative FeeCharged of the
    same fee) when the dispute is won."""
    fees = index.by_part(payment_id, "FeeCharged").get("dispute", [])
    charged = [i for i in fees if int(str(index.data[i]["amount"])) > 0]
    given_back = [i for i in fees if int(str(index.data[i]["amount"])) < 0]
    _exactly_once(verdict, "dispute fee", payment_id, charged)
    if opened is not None and opened.outcome == "won":
        _exactly_once(verdict, "dispute fee given back", payment_id, given_back)
    elif given_back:
        verdict.duplicate("dispute fee given back", f"{payment_id}: dispute {opened and opened.outcome}")


def _check_bill_reversal(
    payment_id: str, taken: int, applied: list[AppliedRow], index: EventIndex, verdict: Verdict
) -> None:
    """What went back comes off the payment's unallocated part first, the rest off the bill: once, in the
    events and in billing's table alike."""
    unallocated = index.amounts(payment_id, "PaymentUnallocated")
    expected = max(0, taken - unallocated)
    in_table = sum(row.reversed_amount for row in applied if row.payment_id == payment_id)
    for where, reversed_amount in (
        ("events", index.amounts(payment_id, "BillPaymentReversed")),
        ("bill", in_table),
    ):
        if reversed_amount < expected:
            verdict.lose(
                f"reversal missing from the {where}", f"{payment_id}: {reversed_amount} < {expected}"
            )
        elif reversed_amount > expected:
            verdict.duplicate(
                f"reversal applied twice to the {where}", f"{payment_id}: {reversed_amount} > {expected}"
            )
    verdict.checked["bill payments reversed"] += bool(expected)


def _check_processor_refunds(
    accepted: dict[str, PlannedPayment], back: ReversalLedger, evidence: Evidence, verdict: Verdict
) -> None:
    """The processor holds each refund asked, once, succeeded; none other; never more than was paid."""
    held: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    for refund in evidence.processor_refunds:
        held[refund.payment_id][refund.refund_id] = (refund.amount, refund.status)
    for payment_id, plan in accepted.items():
        asked, there = back.refunds_of(payment_id), held.get(payment_id, {})
        for refund_id in set(asked) - set(there):
            verdict.lose("refund missing at the processor", f"{payment_id}/{refund_id}")
        for refund_id in set(there) - set(asked):
            verdict.duplicate("refund at the processor nobody asked for", f"{payment_id}/{refund_id}")
        for refund_id, (_, status) in there.items():
            if refund_id in asked and status != "succeeded":
                verdict.lose("refund not paid by the processor", f"{payment_id}/{refund_id}: {status}")
        if sum(amount for amount, status in there.values() if status != "failed") > plan.amount:
            verdict.duplicate("refunded more than the payment", payment_id)
    verdict.checked["refunds at the processor"] += len(evidence.processor_refunds)


def _check_reversals_in_reconciliation(back: ReversalLedger, evidence: Evidence, verdict: Verdict) -> None:
    """Reconciliation shows each refund succeeded, each dispute with its outcome, each return."""
    refunds = {(r.payment_id, r.reversal_id): r for r in evidence.refunds}
    asked = {(r.payment_id, r.refund_id): r for r in back.refunds}
    for key, refund in asked.items():
        row = refunds.get(key)
        if row is None or (row.status, row.amount) != ("succeeded", refund.amount):
            verdict.lose("refund wrong in reconciliation", f"{key}: {row}, asked {refund.amount}")
    for key in set(refunds) - set(asked):
        verdict.duplicate("refund in reconciliation nobody asked for", str(key))
    disputes = {r.payment_id: r for r in evidence.disputes}
    returned = {p.payment_id: p for p in evidence.projection if p.returned_amount}
    for payment_id, opened in back.opened.items():
        if opened.kind == "dispute":
            row = disputes.get(payment_id)
            if row is None or (row.reversal_id, row.status, row.amount) != (
                opened.dispute_id,
                opened.outcome,
                opened.amount,
            ):
                verdict.lose("dispute wrong in reconciliation", f"{payment_id}: {row}, expected {opened}")
        else:
            payment = returned.get(payment_id)
            if payment is None or (payment.returned_amount, payment.returned_reason) != (
                opened.amount,
                opened.reason,
            ):
                verdict.lose("return missing from reconciliation", f"{payment_id}: {payment}")
    for payment_id in set(disputes) - {p for p, o in back.opened.items() if o.kind == "dispute"}:
        verdict.duplicate("dispute in reconciliation nobody opened", payment_id)
    for payment_id in set(returned) - {p for p, o in back.opened.items() if o.kind == "return"}:
        verdict.duplicate("return in reconciliation nobody asked for", payment_id)
    verdict.checked["refunds, disputes and returns in reconciliation"] += (
        len(evidence.refunds) + len(evidence.disputes) + len(returned)
    )


# --- trust accounts: the three-way reconciliation, and no fee ever in trust ---------------------------------

# A trust ledger's movements (CONTRACT §2 v2): what each event type does to it, and the key of what moved
# (one refund, dispute or payment counts once however many ids carried it).
_LEDGER_SIGNS = {"PaymentProcessed": 1, "RefundSucceeded": -1, "DisputeClosed": -1, "PaymentReturned": -1}


def _check_trust(evidence: Evidence, verdict: Verdict) -> None:
    """Per trust account: deposited + in transit = ledger = client ledgers + unidentified; the ledger and the
    deposits are the events' (less: lost, more: counted twice); and no fee, charged or paid out, in trust."""
    trust = evidence.trust
    events = [(header(r, "ce_type") or "", json.loads(r.value)) for r in evidence.events]  # decoded once
    for balance in trust.balances:
        what = f"{balance.firm_id}/{balance.bank_account_id}"
        clients = sum(balance.client_balances)
        if not balance.deposited + balance.in_transit == balance.ledger == clients + balance.unidentified:
            verdict.lose(
                "trust reconciliation out of balance",
                f"{what}: deposited {balance.deposited} + in transit {balance.in_transit}, ledger"
                f" {balance.ledger}, clients {clients} + unidentified {balance.unidentified}",
            )
        _compare(verdict, "trust ledger", what, balance.ledger, _ledger_of_events(events, balance))
        _compare(verdict, "trust deposits", what, balance.deposited, _deposits_of(trust.payouts, balance))
    trust_accounts = {a for a, kind in trust.account_kinds.items() if kind == "trust"}
    for fee in _fees_in(evidence.events, trust.payouts, trust_accounts):
        verdict.lose("fee taken from a trust account", fee)
    verdict.checked["trust accounts reconciled"] += len(trust.balances)


def _compare(verdict: Verdict, what: str, account: str, reported: int, from_events: int) -> None:
    if reported < from_events:
        verdict.lose(f"{what} short of its events", f"{account}: {reported} < {from_events}")
    elif reported > from_events:
        verdict.duplicate(f"{what} counts money twice", f"{account}: {reported} > {from_events}")


def _ledger_of_events(events: list[tuple[str, dict[str, Any]]], balance: TrustBalance) -> int:
    # a payment's account, from any of its events that names it (DisputeClosed does not; FeeCharged names the
    # operating account the fee came from, not the payment's)
    account_of = {
        str(d["payment_id"]): str(d["bank_account_id"])
        for kind, d in events
        if "bank_account_id" in d and kind != "FeeCharged"
    }
    moved: dict[tuple[str, str], int] = {}  # (type, what moved: payment, refund or dispute) -> signed amount
    for kind, data in events:
        if kind not in _LEDGER_SIGNS or account_of.get(str(data["payment_id"])) != balance.bank_account_id:
            continue
        if _in_time(data, balance) and data.get("outcome", "lost") == "lost":
            what = str(data.get("refund_id") or data.get("dispute_id") or data["payment_id"])
            moved[(kind, what)] = _LEDGER_SIGNS[kind] * int(data["amount"])
    return sum(moved.values())


def _in_time(data: dict[str, object], balance: TrustBalance) -> bool:
    at = next(str(data[k]) for k in ("processed_at", "succeeded_at", "closed_at", "returned_at") if k in data)
    return datetime.fromisoformat(at) <= balance.as_of


def _deposits_of(payouts: list[ConsumerRecord], balance: TrustBalance) -> int:
    paid = {}
    for record in payouts:
        data = json.loads(record.value)
        arrived = date.fromisoformat(str(data["arrival_date"])) <= balance.as_of.date()
        if data["bank_account_id"] == balance.bank_account_id and arrived:
            paid[str(data["payout_id"])] = int(data["amount"])
    return sum(paid.values())


def _fees_in(
    records: list[ConsumerRecord], payouts: list[ConsumerRecord], trust_accounts: set[str]
) -> list[str]:
    """Fees charged to a trust account, and fee lines in a trust account's payouts."""
    charged = {
        f"FeeCharged {data['fee_id']} on {data['bank_account_id']}"
        for record in records
        if header(record, "ce_type") == "FeeCharged"
        for data in [json.loads(record.value)]
        if data["bank_account_id"] in trust_accounts
    }
    paid_out = {
        f"payout {data['payout_id']} fee line {line.get('fee_id')} on {data['bank_account_id']}"
        for record in payouts
        for data in [json.loads(record.value)]
        if data["bank_account_id"] in trust_accounts
        for line in data["lines"]
        if line["type"] == "fee"
    }
    return sorted(charged | paid_out)


def _check_attribution(
    accepted: dict[str, PlannedPayment], evidence: Evidence, index: EventIndex, verdict: Verdict
) -> None:
    """Every effect belongs to the payment's own firm and bill, and every email goes to its firm's staff:
    a payment counted once but under another firm, or money on another bill, is the right one lost."""
    for event_id, data in index.data.items():
        payment_id, kind = index.event_of[event_id]
        plan = accepted.get(payment_id)
        if plan is None:
            continue  # reported as never accepted
        if data.get("firm_id") != plan.firm_id:
            verdict.lose("event under another firm", f"{kind} of {payment_id}: {data.get('firm_id')}")
        if kind in BILL_EVENTS and "bill_id" in data and data["bill_id"] != plan.bill_id:
            verdict.lose("money applied to another bill", f"{kind} of {payment_id}: {data['bill_id']}")
    for row in evidence.projection:
        plan = accepted.get(row.payment_id)
        if plan is not None and row.firm_id != plan.firm_id:
            verdict.lose("payment shown under another firm", f"{row.payment_id}: {row.firm_id}")
        if plan is not None and row.bill_id != plan.bill_id:
            verdict.lose("payment shown against another bill", f"{row.payment_id}: {row.bill_id}")
    for applied in evidence.applied:
        plan = accepted.get(applied.payment_id)
        if plan is not None and applied.bill_id != plan.bill_id:
            verdict.lose("money applied to another bill", f"{applied.payment_id}: {applied.bill_id}")
    for mail in evidence.mails:
        about = index.event_of.get(mail.event_id)
        plan = accepted.get(about[0]) if about else None
        if plan is not None and mail.to not in (recipient(plan.firm_id), payer(plan.firm_id)):
            verdict.lose("email to another firm's staff", f"{mail.message_id} to {mail.to}")
    verdict.checked["firm, bill and recipient of every record"] += (
        len(index.data) + len(evidence.projection) + len(evidence.applied) + len(evidence.mails)
    )
