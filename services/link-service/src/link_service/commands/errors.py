"""Refusals the commands raise, besides the aggregates' DomainErrors."""

from __future__ import annotations

from paylinks_runtime.aggregate import DomainError

from ..processor import Rejected


class NotFound(DomainError):
    """Unknown, or another firm's: existence is not revealed."""

    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} not found")


class PaymentDeclined(DomainError):
    """The processor refused the charge; nothing was taken. One answer whatever the processor's reason,
    so that a card tester learns nothing from it."""

    def __init__(self) -> None:
        super().__init__("payment_declined", "The payment was declined. Please use another card or account.")


class FeeAccountRequired(DomainError):
    """Processing fees are taken from an operating account, never from a trust deposit."""

    def __init__(self) -> None:
        super().__init__(
            "fee_account_required", "the firm has no operating account to take processing fees from"
        )


class AuthorizationRequired(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "authorization_required",
            "An eCheck needs the debit authorization accepted: authorization.accepted = true.",
        )


class PaymentPending(DomainError):
    """The processor did not answer in time: the charge may or may not be made. It is sent again (same
    idempotency key) until it is known, so the payer must not pay a second time."""

    def __init__(self) -> None:
        super().__init__(
            "payment_pending",
            "We could not confirm your payment yet. Please do not pay again: retry this request in a minute"
            " (with the same Idempotency-Key) to see its outcome.",
        )


class InFlight(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_in_flight", "The first request with this key is still being processed."
        )


# What the processor's 422s mean to a payer. Any other code becomes `payment_rejected`.
_REJECTIONS = {
    "payment_method_invalid": "The payment details were not accepted. Please enter them again.",
    "payment_method_used": "These payment details were already used. Please enter them again.",
    "currency_mismatch": "This card or account cannot pay in this currency.",
    "fee_account_required": FeeAccountRequired().message,
}


def rejection(outcome: Rejected) -> DomainError:
    if outcome.code in _REJECTIONS:
        return DomainError(outcome.code, _REJECTIONS[outcome.code])
    return DomainError("payment_rejected", "The payment details were not accepted.")
