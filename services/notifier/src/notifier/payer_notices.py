"""The payer's emails (pure): a receipt when the payment is processed, and a notice of each refund. Written
for someone outside the firm: the firm's name first, no internal ids but the payment's own, nothing about
other clients or the firm's accounts."""

from __future__ import annotations

from paylinks_events import Event, PaymentProcessed, RefundSucceeded

from .notices import Context, Notice, PaymentFacts, bill_label, fully_accounted
from .wording import describe_method, format_money, format_time

PAYER_EVENTS = (PaymentProcessed, RefundSucceeded)
UNKNOWN_FIRM = "the law firm"


def payer_address(payment: PaymentFacts | None) -> str | None:
    """Where the payer's emails go: the address typed on the pay page, if it looks like one."""
    email = (payment.payer_email or "").strip() if payment else ""
    return email if "@" in email and not any(c.isspace() for c in email) else None


def missing_for_payer(event: Event, ctx: Context) -> list[str]:
    missing = [] if ctx.firm_name else ["firm"]
    if ctx.payment is None:
        missing.append("payment")
    if isinstance(event, PaymentProcessed) and event.bill_id:
        if not ctx.bill_known:
            missing.append("bill")
        if not fully_accounted(event, ctx.outcome):
            missing.append("billing outcome")  # the receipt shows what is left to pay
    return missing


def compose_for_payer(event: Event, ctx: Context) -> Notice:
    if isinstance(event, PaymentProcessed):
        return _receipt(event, ctx)
    if isinstance(event, RefundSucceeded):
        return _refund_notice(event, ctx)
    raise ValueError(f"no payer email for {event.type_name()}")


def _receipt(event: PaymentProcessed, ctx: Context) -> Notice:
    firm, money, payment = (
        ctx.firm_name or UNKNOWN_FIRM,
        format_money(event.amount, event.currency),
        ctx.payment,
    )
    details = [
        ("Paid to", firm),
        ("Amount", money),
        ("Method", _method(event.method, payment)),
        *([("Reference", payment.reference)] if payment and payment.reference else []),
        *_bill_lines(event, ctx),
        ("Processed", format_time(event.processed_at)),
        ("Payment ID", event.payment_id),
    ]
    return Notice(
        subject=f"Receipt: {money} paid to {firm}",
        headline="Payment receipt",
        summary=f"Thank you. Your payment of {money} to {firm} has been processed.",
        details=tuple(details),
        note=f"Keep this email for your records. For questions about this payment, contact {firm}.",
    )


def _bill_lines(event: PaymentProcessed, ctx: Context) -> list[tuple[str, str]]:
    if not event.bill_id:
        return []
    lines = [("Bill", bill_label(event.bill_id, ctx))]
    if ctx.outcome and ctx.outcome.balance_after is not None:
        left = ctx.outcome.balance_after
        lines.append(
            ("Balance remaining", "paid in full" if left == 0 else format_money(left, event.currency))
        )
    return lines


def _refund_notice(event: RefundSucceeded, ctx: Context) -> Notice:
    firm, money, payment = (
        ctx.firm_name or UNKNOWN_FIRM,
        format_money(event.amount, event.currency),
        ctx.payment,
    )
    of_payment = f" of your {format_money(payment.amount, payment.currency)} payment" if payment else ""
    back_to = _back_to(payment)
    return Notice(
        subject=f"Refund from {firm}: {money}",
        headline="Refund issued",
        summary=f"{firm} has refunded {money}{of_payment}. It goes back to {back_to}; "
        "it can take 5 to 10 business days to appear.",
        details=(
            ("Refunded by", firm),
            ("Refund", money),
            *([("Original payment", format_money(payment.amount, payment.currency))] if payment else []),
            ("Issued", format_time(event.succeeded_at)),
            ("Payment ID", event.payment_id),
        ),
        note=f"For questions about this refund, contact {firm}.",
    )


def _method(method: str, payment: PaymentFacts | None) -> str:
    if payment is None:
        return describe_method(method)
    return describe_method(method, payment.card_brand, payment.last4)


def _back_to(payment: PaymentFacts | None) -> str:
    if payment is None:
        return "the card or account you paid with"
    if payment.method == "echeck":
        return "the bank account you paid from"
    return f"your card ending {payment.last4}" if payment.last4 else "the card you paid with"
