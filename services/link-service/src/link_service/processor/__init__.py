"""The payment processor, seen from link-service: one interface (`PaymentProcessor`) and its HTTP adapter.

The processor is a separate system (locally the sandbox process, services/processor-sandbox); card and bank
numbers go from the payer's browser straight to it, and link-service only ever holds its tokens.
"""

from .base import (
    Charged,
    ChargeOutcome,
    ChargeRequest,
    Declined,
    PaymentProcessor,
    ProcessorUnavailable,
    RefundAccepted,
    RefundOutcome,
    RefundRequest,
    Rejected,
)

__all__ = [
    "ChargeOutcome",
    "ChargeRequest",
    "Charged",
    "Declined",
    "PaymentProcessor",
    "ProcessorUnavailable",
    "RefundAccepted",
    "RefundOutcome",
    "RefundRequest",
    "Rejected",
]
