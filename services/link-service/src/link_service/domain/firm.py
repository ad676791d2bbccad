"""A firm's profile: the name its payers see, and the operating account its processing fees come from."""

from __future__ import annotations

from paylinks_events import FirmProfileUpdated
from paylinks_runtime.aggregate import Aggregate


class Firm(Aggregate):
    stream_type = "firm"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.display_name = ""
        self.fee_bank_account_id: str | None = None
        self.minimum_payment_amount: int | None = None

    def update_profile(
        self, display_name: str, fee_bank_account_id: str | None, minimum_payment_amount: int | None = None
    ) -> None:
        """Recorded when something changes. The caller checked that the fee account is an operating one."""
        profile = (display_name, fee_bank_account_id, minimum_payment_amount)
        if (
            self.exists
            and (self.display_name, self.fee_bank_account_id, self.minimum_payment_amount) == profile
        ):
            return
        self.record(
            FirmProfileUpdated(
                firm_id=self.id,
                display_name=display_name,
                fee_bank_account_id=fee_bank_account_id,
                minimum_payment_amount=minimum_payment_amount,
            )
        )

    def when_FirmProfileUpdated(self, event: FirmProfileUpdated) -> None:
        self.display_name, self.fee_bank_account_id = event.display_name, event.fee_bank_account_id
        self.minimum_payment_amount = event.minimum_payment_amount
