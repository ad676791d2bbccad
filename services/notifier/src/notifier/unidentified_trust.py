"""Unidentified trust money (issue 17, pure): a payment into a trust account that nobody linked to a client
or matter within the firm's number of business days gets one reminder to the account's recipients.

Business days are Monday to Friday in UTC; public holidays are not known here (a reminder a holiday early
errs on the side of the client's money being identified sooner).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .notices import Action, Context, LinkFactory, Notice, account_name, payer_name, short, with_firm
from .wording import format_money, format_time

DEFAULT_BUSINESS_DAYS = 3
REMINDER = "UnidentifiedTrustReminder"  # the outgoing email's event_type: no Kafka event behind it
LINK_BUTTON = "Link to a client or matter"


@dataclass(frozen=True)
class UnidentifiedTrustPayment:
    """What a reminder is about; stored as the outgoing email's data."""

    firm_id: str
    payment_id: str
    bank_account_id: str
    amount: int
    currency: str
    processed_at: datetime
    business_days: int

    def as_data(self) -> dict[str, Any]:
        return {**self.__dict__, "processed_at": self.processed_at.isoformat()}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> UnidentifiedTrustPayment:
        return cls(**{**data, "processed_at": datetime.fromisoformat(data["processed_at"])})


def add_business_days(start: datetime, days: int) -> datetime:
    """The moment `days` business days (Mon-Fri) after `start`; a weekend start counts from Monday 00:00."""
    moment = start
    while moment.weekday() >= 5:  # Saturday, Sunday
        moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


def reminder_due(processed_at: datetime, business_days: int, now: datetime) -> bool:
    return add_business_days(processed_at, business_days) <= now


def compose_reminder(payment: UnidentifiedTrustPayment, ctx: Context, link_url: LinkFactory) -> Notice:
    money, payer = format_money(payment.amount, payment.currency), payer_name(ctx)
    account, days = account_name(payment, ctx), payment.business_days
    notice = Notice(
        subject=f"Unidentified trust money: {money} from {short(payer)} unlinked for {days} business days",
        headline="Trust money not yet identified",
        summary=f"The {money} payment from {payer} into {account} was processed {days} business days ago "
        "and is still not linked to a client or matter.",
        details=(
            ("Amount", money),
            ("Payer", payer),
            ("Trust account", account),
            ("Processed at", format_time(payment.processed_at)),
            ("Payment ID", payment.payment_id),
        ),
        action=Action(LINK_BUTTON, link_url(payment.firm_id, payment.payment_id)),
        note="Client money in trust must be recorded against the client it belongs to. This is the only "
        "reminder; it is listed in the month-end report of unidentified trust funds.",
    )
    return with_firm(notice, ctx, payment.firm_id)
