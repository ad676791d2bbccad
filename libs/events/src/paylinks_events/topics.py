"""Topic names of the wire contract (CONTRACT.md section 1)."""

from enum import StrEnum


class Topic(StrEnum):
    LINK = "link.events"
    PAYMENT = "payment.events"
    PAYOUT = "payout.events"
    BILLING = "billing.events"
    RECONCILIATION = "reconciliation.events"
    PRACTICE = "practice.events"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of a topic: records a consumer could not process."""
    return f"{topic}.dlq"
