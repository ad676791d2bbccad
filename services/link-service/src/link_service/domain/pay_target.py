"""What a link pays into, as a payer sees it, and the rules a payment must pass before it goes anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from paylinks_events.currencies import exponent
from paylinks_events.money import format_money
from paylinks_runtime.aggregate import DomainError

from .payment import Destination, PaymentSource

BillState = Literal["open", "paid", "void"]
LinkStatus = Literal["open", "paid", "void"]


@dataclass(frozen=True)
class Bill:
    """This service's view of a bill, built from billing.events."""

    bill_id: str
    firm_id: str
    amount: int
    balance: int
    currency: str
    state: BillState


@dataclass(frozen=True)
class PayTarget:
    link_id: str
    firm_id: str
    kind: Literal["bank_account", "bill"]
    bank_account_id: str
    bank_account_name: str
    currency: str
    firm_display_name: str | None = None
    # The firm's smallest payment (minor units); None: one unit of the currency (card testing goes by cents).
    minimum_amount: int | None = None
    bill: Bill | None = None
    revoked_reason: str | None = None
    # Payments of this bill accepted (or being charged) and not yet applied by billing nor failed: they
    # count against the balance due, or two payers could each pay it in full.
    pending: int = 0
    # The operating account the processor takes the firm's fees from; None when the firm has none.
    fee_account: str | None = None

    @property
    def status(self) -> LinkStatus:
        if self.revoked_reason == "bill_voided" or (self.bill and self.bill.state == "void"):
            return "void"
        if self.revoked_reason == "bill_paid" or (self.bill and self.bill.state == "paid"):
            return "paid"
        return "open"

    @property
    def firm_name(self) -> str:
        """Who the payer is paying: the firm's display name, or the account's name until it has one."""
        return self.firm_display_name or self.bank_account_name

    @property
    def amount_due(self) -> int | None:
        return max(self.bill.balance - self.pending, 0) if self.bill else None

    def destination(self, *, via_qr: bool) -> Destination:
        return Destination(
            firm_id=self.firm_id,
            link_id=self.link_id,
            bank_account_id=self.bank_account_id,
            bill_id=self.bill.bill_id if self.bill else None,
            currency=self.currency,
            source=self._source(via_qr),
        )

    def _source(self, via_qr: bool) -> PaymentSource:
        if self.kind == "bill":
            return "bill_link"
        return "qr_code" if via_qr else "bank_account_link"

    def check_payable(self, amount: int, *, limit: int) -> None:
        """Refuse what must not reach the processor: a dead link or an amount out of bounds."""
        if self.status == "void":
            raise DomainError("link_revoked", "This bill was cancelled, so it can no longer be paid.")
        if self.status == "paid":
            raise DomainError("bill_paid", "This bill is already paid in full.")
        if amount <= 0:
            raise DomainError("invalid_amount", "The amount must be a positive whole number of cents.")
        if amount > limit:
            ceiling = format_money(limit, self.currency)
            raise DomainError("amount_above_limit", f"The amount is above the limit of {ceiling}.")
        due = self.amount_due
        if due is not None and amount > due:
            balance = format_money(due, self.currency)
            raise DomainError("amount_above_balance", f"The amount is above the balance due ({balance}).")
        minimum = self.minimum_payment(due)
        if amount < minimum:
            smallest = format_money(minimum, self.currency)
            raise DomainError("amount_below_minimum", f"The smallest payment this link takes is {smallest}.")

    def minimum_payment(self, due: int | None) -> int:
        """The firm's minimum, else one unit of the currency; never above what a bill still has due."""
        minimum = self.minimum_amount or 10 ** exponent(self.currency)
        return min(minimum, due) if due else minimum
