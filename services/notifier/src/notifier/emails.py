"""Which words an outgoing email gets (pure): the staff email of a payment event, the payer's receipt or
refund notice, the unidentified-trust reminder or a paused link's notice; and what context it should still
wait for."""

from __future__ import annotations

from typing import Any

from paylinks_events import Event, LinkPaused, RefundFailed, decode_event

from .email_outbox import PAYER, UNIDENTIFIED_TRUST_REMINDER
from .link_pause_notices import compose_link_paused, missing_for_link_paused
from .money_back_notices import MONEY_BACK_EVENTS, compose_money_back
from .notices import Context, LinkFactory, Notice, compose, missing_context
from .payer_notices import compose_for_payer, missing_for_payer
from .unidentified_trust import REMINDER, UnidentifiedTrustPayment, compose_reminder

Subject = Event | UnidentifiedTrustPayment


def subject_of(event_type: str, data: dict[str, Any], schema_version: int) -> Subject:
    """What a stored outgoing email is about, from its row."""
    if event_type == REMINDER:
        return UnidentifiedTrustPayment.from_data(data)
    event = decode_event(event_type, data, schema_version)
    if event is None:
        raise ValueError(f"no event type {event_type}")
    return event


def still_missing(subject: Subject, ctx: Context, notice: str) -> list[str]:
    if isinstance(subject, UnidentifiedTrustPayment):
        return [name for name, known in (("firm", ctx.firm_name), ("payment", ctx.payment)) if not known]
    if isinstance(subject, LinkPaused):
        return missing_for_link_paused(subject, ctx)
    if notice == PAYER:
        return missing_for_payer(subject, ctx)
    missing = missing_context(subject, ctx)
    if isinstance(subject, RefundFailed) and ctx.refund is None:
        missing.append("refund")  # its amount comes from RefundRequested
    return missing


def compose_email(subject: Subject, ctx: Context, link_url: LinkFactory, notice: str) -> Notice:
    if isinstance(subject, UnidentifiedTrustPayment):
        return compose_reminder(subject, ctx, link_url)
    if isinstance(subject, LinkPaused):
        return compose_link_paused(subject, ctx)
    if notice == PAYER:
        return compose_for_payer(subject, ctx)
    if notice == UNIDENTIFIED_TRUST_REMINDER:
        raise ValueError("a reminder is about an unidentified trust payment, not an event")
    if isinstance(subject, MONEY_BACK_EVENTS):
        return compose_money_back(subject, ctx)
    return compose(subject, ctx, link_url)
