"""The staff emails about money that goes back after a payment (pure): the bank returned an eCheck, a refund
was issued or failed, a card payment was disputed, a dispute was won or lost. Each names the firm."""

from __future__ import annotations

from paylinks_events import (
    DisputeClosed,
    Event,
    PaymentDisputed,
    PaymentReturned,
    RefundFailed,
    RefundSucceeded,
)

from .notices import Context, Notice, account_name, payer_name, short, with_firm
from .wording import (
    dispute_reason,
    failure_label,
    format_day,
    format_money,
    format_time,
    one_line,
    return_sentence,
)

MoneyBackEvent = PaymentReturned | RefundSucceeded | RefundFailed | PaymentDisputed | DisputeClosed
MONEY_BACK_EVENTS = (PaymentReturned, RefundSucceeded, RefundFailed, PaymentDisputed, DisputeClosed)


def compose_money_back(event: Event, ctx: Context) -> Notice:
    if isinstance(event, PaymentReturned):
        notice = _returned(event, ctx)
    elif isinstance(event, RefundSucceeded):
        notice = _refund_issued(event, ctx)
    elif isinstance(event, RefundFailed):
        notice = _refund_failed(event, ctx)
    elif isinstance(event, PaymentDisputed):
        notice = _disputed(event, ctx)
    elif isinstance(event, DisputeClosed):
        notice = _dispute_closed(event, ctx)
    else:
        raise ValueError(f"no money-back email for {event.type_name()}")
    return with_firm(notice, ctx, event.firm_id)


def _returned(event: PaymentReturned, ctx: Context) -> Notice:
    money, payer, account = (
        format_money(event.amount, event.currency),
        payer_name(ctx),
        account_name(event, ctx),
    )
    because = return_sentence(event.reason)
    return Notice(
        subject=f"Payment returned: {money} from {short(payer)} — {failure_label(event.reason)}",
        headline="Payment returned",
        summary=f"The {money} eCheck payment from {payer} into {account} was taken back: {because}.",
        details=(
            ("Amount", money),
            ("Payer", payer),
            ("Bank account", account),
            ("Reason", _sentence(because)),
            ("Returned at", format_time(event.returned_at)),
            ("Payment ID", event.payment_id),
        ),
        note="The money is no longer in the account. A bill it paid is open again; you may want to contact "
        "the client.",
    )


def _refund_issued(event: RefundSucceeded, ctx: Context) -> Notice:
    money, payer, account = (
        format_money(event.amount, event.currency),
        payer_name(ctx),
        account_name(event, ctx),
    )
    return Notice(
        subject=f"Refund issued: {money} to {short(payer)} — {short(account)}",
        headline="Refund issued",
        summary=f"{money} was refunded to {payer} from {account}{_of_payment(ctx)}.",
        details=(
            ("Refund", money),
            *_payment_amount(ctx),
            ("Payer", payer),
            ("Bank account", account),
            *([("Reason", ctx.refund.reason)] if ctx.refund and ctx.refund.reason else []),
            ("Issued at", format_time(event.succeeded_at)),
            ("Refund ID", event.refund_id),
            ("Payment ID", event.payment_id),
        ),
        note="The processing fee of the payment is not given back.",
    )


def _refund_failed(event: RefundFailed, ctx: Context) -> Notice:
    payer, account, reason = payer_name(ctx), account_name(event, ctx), one_line(event.reason, 200)
    money = format_money(ctx.refund.amount, ctx.refund.currency) if ctx.refund else "a refund"
    what = f"The refund of {money}" if ctx.refund else "A refund"
    return Notice(
        subject=f"Refund failed: {money} to {short(payer)} — {one_line(event.reason, 40)}",
        headline="Refund failed",
        summary=f"{what} to {payer} from {account} could not be made: {reason}.",
        details=(
            *([("Refund", money)] if ctx.refund else []),
            ("Payer", payer),
            ("Bank account", account),
            ("Reason", reason),
            ("Failed at", format_time(event.failed_at)),
            ("Refund ID", event.refund_id),
            ("Payment ID", event.payment_id),
        ),
        note="No money left the account. You may request the refund again.",
    )


def _disputed(event: PaymentDisputed, ctx: Context) -> Notice:
    money, payer, account = (
        format_money(event.amount, event.currency),
        payer_name(ctx),
        account_name(event, ctx),
    )
    due = format_day(event.evidence_due_by)
    return Notice(
        subject=f"Payment disputed: {money} from {short(payer)} — evidence due {due}",
        headline="Payment disputed",
        summary=f"A dispute of {money} was opened on the payment from {payer} into {account}: "
        f"{dispute_reason(event.reason)}. Send your evidence to the processor by {due}.",
        details=(
            ("Disputed amount", money),
            ("Reason", f"{_sentence(dispute_reason(event.reason))} ({one_line(event.reason, 40)})"),
            ("Evidence due", due),
            ("Payer", payer),
            ("Bank account", account),
            ("Opened at", format_time(event.disputed_at)),
            ("Dispute ID", event.dispute_id),
            ("Payment ID", event.payment_id),
        ),
        note="The disputed amount has been taken back from the account until the dispute is decided; a bill "
        "it paid is open again. The dispute fee is charged to the firm's operating account.",
    )


def _dispute_closed(event: DisputeClosed, ctx: Context) -> Notice:
    money, payer, account = (
        format_money(event.amount, event.currency),
        payer_name(ctx),
        account_name(event, ctx),
    )
    won = event.outcome == "won"
    summary = (
        f"The dispute of {money} on the payment from {payer} was decided for the firm: the money comes back "
        f"to {account} and the dispute fee is given back."
        if won
        else f"The dispute of {money} on the payment from {payer} was decided for the cardholder: the money "
        "stays with them and the dispute fee is not given back."
    )
    return Notice(
        subject=f"Dispute {event.outcome}: {money} from {short(payer)} — {short(account)}",
        headline=f"Dispute {event.outcome}",
        summary=summary,
        details=(
            ("Disputed amount", money),
            ("Outcome", "won" if won else "lost"),
            ("Payer", payer),
            ("Bank account", account),
            ("Closed at", format_time(event.closed_at)),
            ("Dispute ID", event.dispute_id),
            ("Payment ID", event.payment_id),
        ),
    )


def _of_payment(ctx: Context) -> str:
    if ctx.payment is None:
        return ""
    return f" (of their {format_money(ctx.payment.amount, ctx.payment.currency)} payment)"


def _payment_amount(ctx: Context) -> tuple[tuple[str, str], ...]:
    if ctx.payment is None:
        return ()
    return (("Payment", format_money(ctx.payment.amount, ctx.payment.currency)),)


def _sentence(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:] + "."
