"""Refusals the commands raise, besides the aggregates' DomainErrors."""

from __future__ import annotations

from paylinks_runtime.aggregate import DomainError


class NotFound(DomainError):
    """Unknown, or another firm's: existence is not revealed."""

    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} not found")


class PaymentDeclined(DomainError):
    """The processor refused the charge; nothing was recorded."""

    def __init__(self, reason: str) -> None:
        message = "The card was declined." if reason == "card_declined" else "The card number is not valid."
        super().__init__(reason, message)
