"""Payment processors: the interface intake uses, and the sandbox that stands in for a real one."""

from .base import Accepted, Charge, Declined, PaymentProcessor

__all__ = ["Accepted", "Charge", "Declined", "PaymentProcessor"]
