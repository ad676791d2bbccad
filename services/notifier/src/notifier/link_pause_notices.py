"""The staff email when a burst of declined cards paused a pay link (issue 18, pure): which link, for how
long, after how many declines, that it is likely card testing, and what staff can do. Nothing of the cards
(the event has none) and never the link's URL or token (a bearer capability: the event has none either)."""

from __future__ import annotations

import math
from datetime import timedelta

from paylinks_events import LinkPaused

from .notices import Context, Notice, account_name, bill_label, firm_name, short, with_firm
from .wording import format_time, one_line


def missing_for_link_paused(event: LinkPaused, ctx: Context) -> list[str]:
    """The names worth a short wait: the bank account's, and the bill's for a bill link."""
    missing = [] if ctx.bank_account_name else ["bank account"]
    if event.bill_id and not ctx.bill_known:
        missing.append("bill")
    return missing


def compose_link_paused(event: LinkPaused, ctx: Context) -> Notice:
    account = account_name(event, ctx)
    bill = bill_label(event.bill_id, ctx) if event.bill_id else None
    link = f"the pay link for bill {bill}" if bill else f"the pay link of {account}"
    paused_for = minutes(event.paused_until - event.paused_at)
    window = minutes(timedelta(seconds=event.window_seconds))
    until = format_time(event.paused_until)
    firm = firm_name(ctx, event.firm_id)
    declines = f"{event.declines} declined card{'' if event.declines == 1 else 's'}"
    details = [
        ("Link", f"bill {bill} (paid into {account})" if bill else f"{account} (bank account link)"),
        ("Bank account", account),
        ("Declined", f"{declines} within {window}"),
        ("Paused at", format_time(event.paused_at)),
        ("Paused until", until),
        ("Link ID", event.link_id),
    ]
    notice = Notice(
        subject=f"Pay link paused: {one_line(f'bill {bill}', 40) if bill else short(account)} — "
        f"{declines} in {window}",
        headline="Pay link paused after declined cards",
        summary=f"Payments through {link} ({firm}) were paused for {paused_for} after {declines} within "
        f"{window}. This is likely card testing: someone trying stolen card numbers through the link to see "
        "which work.",
        details=tuple(details),
        note=f"No money was taken for the declined cards, and the link takes payments again by itself from "
        f"{until}; you do not need to do anything for that. What you can do: if a client told you their card "
        "was refused, ask them to try again after that time or to pay by eCheck; if the link is posted "
        "publicly (a website, a printed QR code) and this happens again, consider taking it down there and "
        "sending clients their own bill links instead.",
    )
    return with_firm(notice, ctx, event.firm_id)


def minutes(span: timedelta) -> str:
    """How long, in whole minutes ("15 minutes", "1 minute"), rounded up: never shorter than it is."""
    count = max(math.ceil(span.total_seconds() / 60), 1)
    return f"{count} minute{'' if count == 1 else 's'}"
