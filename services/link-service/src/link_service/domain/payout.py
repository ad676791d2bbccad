"""A processor payout into one of the firm's bank accounts: recorded once, as the processor reported it."""

from __future__ import annotations

from datetime import date

from paylinks_events import PayoutPaid
from paylinks_events.models import PayoutLine
from paylinks_runtime.aggregate import Aggregate


class Payout(Aggregate):
    stream_type = "payout"

    def pay(
        self,
        *,
        firm_id: str,
        bank_account_id: str,
        amount: int,
        currency: str,
        arrival_date: date,
        lines: tuple[PayoutLine, ...],
    ) -> bool:
        if self.exists:
            return False
        self.record(
            PayoutPaid(
                payout_id=self.id,
                firm_id=firm_id,
                bank_account_id=bank_account_id,
                amount=amount,
                currency=currency,
                arrival_date=arrival_date,
                lines=lines,
            )
        )
        return True
