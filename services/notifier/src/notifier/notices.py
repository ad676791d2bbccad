"""What each payment email says, decided from the event and what the notifier knows around it (pure).

An email may need names that arrive on other topics (bank account, bill) or after the event (billing's
outcome for a bill payment): `missing_context` says what is still unknown, so the sender can wait a little
for it; `compose` words the email with whatever is known, falling back to ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from paylinks_events import Event, LinkPaused, PaymentFailed, PaymentProcessed, PaymentReceived
from paylinks_events.money import format_money

from .wording import (
    describe_method,
    describe_source,
    failure_label,
    failure_sentence,
    format_time,
    one_line,
)

LinkFactory = Callable[[str, str], str]  # (firm_id, payment_id) -> URL of the reconciliation link page
LINK_BUTTON = "Link to a client or matter"
_UNALLOCATED = {"bill_void": "the bill was void", "overpayment": "it was more than the balance due"}


@dataclass(frozen=True)
class PaymentFacts:
    """What PaymentReceived told us, for the later emails of the same payment."""

    payer_name: str
    method: str
    amount: int
    currency: str
    bank_account_id: str
    bill_id: str | None
    # For the payer's receipt: where to send it, and what the payer may see of the instrument.
    payer_email: str | None = None
    card_brand: str | None = None
    last4: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class RefundFacts:
    """What RefundRequested told us, for the refund emails (RefundFailed names only the refund)."""

    amount: int
    currency: str
    reason: str


@dataclass(frozen=True)
class BillOutcome:
    applied_amount: int
    balance_after: int | None
    unallocated_amount: int
    unallocated_reason: str | None


@dataclass(frozen=True)
class Context:
    payment: PaymentFacts | None = None
    bank_account_name: str | None = None
    bill_known: bool = False
    bill_number: str | None = None
    outcome: BillOutcome | None = None
    firm_name: str | None = None  # FirmProfileUpdated's display name
    refund: RefundFacts | None = None


@dataclass(frozen=True)
class Action:
    label: str
    url: str


@dataclass(frozen=True)
class Notice:
    subject: str
    headline: str
    summary: str
    details: tuple[tuple[str, str], ...]
    action: Action | None = None
    note: str | None = None


def referenced_ids(event: object, payment: PaymentFacts | None) -> tuple[str | None, str | None]:
    """(bank_account_id, bill_id) the email of this event (or reminder) talks about."""
    if isinstance(event, PaymentReceived | PaymentProcessed | LinkPaused):
        return event.bank_account_id, event.bill_id
    bank_account_id = getattr(event, "bank_account_id", None)  # the later money events name it too
    if payment is None:
        return bank_account_id, None
    return bank_account_id or payment.bank_account_id, payment.bill_id


def missing_context(event: Event, ctx: Context) -> list[str]:
    bill_id = referenced_ids(event, ctx.payment)[1]
    # Not the firm's name: a firm that never set its profile would have every email held. Staff emails
    # name it when known, else by id; the payer's emails do wait for it (payer_notices).
    missing = []
    if not isinstance(event, PaymentReceived) and ctx.payment is None:
        missing.append("payment")
    if ctx.bank_account_name is None:
        missing.append("bank account")
    if bill_id and not ctx.bill_known:
        missing.append("bill")
    if isinstance(event, PaymentProcessed) and event.bill_id and not fully_accounted(event, ctx.outcome):
        missing.append("billing outcome")
    return missing


def compose(event: Event, ctx: Context, link_url: LinkFactory) -> Notice:
    """The staff email of a payment event, naming the firm."""
    if isinstance(event, PaymentReceived):
        return with_firm(_received(event, ctx), ctx, event.firm_id)
    if isinstance(event, PaymentProcessed):
        return with_firm(_processed(event, ctx, link_url), ctx, event.firm_id)
    if isinstance(event, PaymentFailed):
        return with_firm(_failed(event, ctx), ctx, event.firm_id)
    raise ValueError(f"no email for {event.type_name()}")


def with_firm(notice: Notice, ctx: Context, firm_id: str) -> Notice:
    """Every staff email names the firm first: one person may receive the emails of several firms."""
    return replace(notice, details=(("Firm", firm_name(ctx, firm_id)), *notice.details))


def firm_name(ctx: Context, firm_id: str) -> str:
    return ctx.firm_name or f"firm {firm_id}"


def _received(event: PaymentReceived, ctx: Context) -> Notice:
    money, payer, account = (
        format_money(event.amount, event.currency),
        event.payer.name,
        account_name(event, ctx),
    )
    via = describe_source(event.source) + (
        f" (bill {bill_label(event.bill_id, ctx)})" if event.bill_id else ""
    )
    details = [
        ("Amount", money),
        ("Payer", f"{payer} <{event.payer.email}>"),
        ("Method", describe_method(event.method, event.card_brand, event.last4)),
        ("Bank account", account),
        ("Received via", via),
        *([("Reference", event.reference)] if event.reference else []),
        ("Received at", format_time(event.received_at)),
        ("Payment ID", event.payment_id),
    ]
    return Notice(
        subject=f"Payment received: {money} from {short(payer)} — {short(account)}",
        headline="Payment received",
        summary=f"{payer} paid {money} into {account}.",
        details=tuple(details),
        note="It is not final yet: you will get another email when the payment has been processed.",
    )


def _processed(event: PaymentProcessed, ctx: Context, link_url: LinkFactory) -> Notice:
    outcome = ctx.outcome
    if event.bill_id and not (outcome and outcome.unallocated_amount):
        return _processed_forbill_label(event, ctx)
    money, payer, account = (
        format_money(event.amount, event.currency),
        payer_name(ctx),
        account_name(event, ctx),
    )
    summary = f"The {money} payment from {payer} into {account} has been processed and is ready to link."
    if event.bill_id and outcome:
        left = format_money(outcome.unallocated_amount, event.currency)
        why = _UNALLOCATED.get(outcome.unallocated_reason or "", "it could not be applied")
        summary += f" {left} of it was not applied to bill {bill_label(event.bill_id, ctx)} because {why}."
    return Notice(
        subject=f"Payment processed — ready to link: {money} from {short(payer)} — {short(account)}",
        headline="Payment processed — ready to link",
        summary=summary,
        details=_processed_details(event, ctx),
        action=Action(LINK_BUTTON, link_url(event.firm_id, event.payment_id)),
        note="Link it to a client or matter so it is recorded against the right file.",
    )


def _processed_forbill_label(event: PaymentProcessed, ctx: Context) -> Notice:
    money, payer, bill = (
        format_money(event.amount, event.currency),
        payer_name(ctx),
        bill_label(event.bill_id, ctx),
    )
    outcome = ctx.outcome
    verb = (
        "applied to" if outcome else "for"
    )  # billing's outcome not known (yet): do not claim it was applied
    summary = f"The {money} payment from {payer} has been processed and applied to bill {bill}."
    if outcome and outcome.balance_after is not None:
        balance = format_money(outcome.balance_after, event.currency)
        summary += (
            " The bill is now paid in full." if outcome.balance_after == 0 else f" Balance due: {balance}."
        )
    elif outcome is None:
        summary = f"The {money} payment from {payer} for bill {bill} has been processed."
    return Notice(
        subject=f"Payment processed: {money} from {short(payer)} {verb} bill {one_line(bill, 30)}",
        headline="Payment processed — applied to bill",
        summary=summary,
        details=(("Bill", bill), *_processed_details(event, ctx)),
    )


def _processed_details(event: PaymentProcessed, ctx: Context) -> tuple[tuple[str, str], ...]:
    return (
        ("Amount", format_money(event.amount, event.currency)),
        ("Payer", payer_name(ctx)),
        ("Method", describe_method(event.method)),
        ("Bank account", account_name(event, ctx)),
        ("Processed at", format_time(event.processed_at)),
        ("Payment ID", event.payment_id),
    )


def _failed(event: PaymentFailed, ctx: Context) -> Notice:
    payment, label = ctx.payment, failure_label(event.reason)
    details = [("Reason", f"{failure_sentence(event.reason)} ({event.reason})")]
    subject = f"Payment failed — {label}"
    if payment:
        money = format_money(payment.amount, payment.currency)
        subject = f"Payment failed: {money} from {short(payment.payer_name)} — {label}"
        details += [
            ("Amount", money),
            ("Payer", payment.payer_name),
            ("Method", describe_method(payment.method)),
            ("Bank account", account_name(event, ctx)),
        ]
    details += [("Failed at", format_time(event.failed_at)), ("Payment ID", event.payment_id)]
    return Notice(
        subject=subject,
        headline="Payment failed",
        summary=failure_sentence(event.reason),
        details=tuple(details),
        note="The money was not received. You may want to contact the payer.",
    )


def fully_accounted(event: PaymentProcessed, outcome: BillOutcome | None) -> bool:
    return outcome is not None and outcome.applied_amount + outcome.unallocated_amount >= event.amount


def short(name: str) -> str:
    return one_line(name, 40)


def payer_name(ctx: Context) -> str:
    return ctx.payment.payer_name if ctx.payment else "the payer"


def account_name(event: object, ctx: Context) -> str:
    if ctx.bank_account_name:
        return ctx.bank_account_name
    bank_account_id = referenced_ids(event, ctx.payment)[0]
    return f"bank account {bank_account_id}" if bank_account_id else "an unknown bank account"


def bill_label(bill_id: str | None, ctx: Context) -> str:
    return ctx.bill_number or bill_id or "unknown"
