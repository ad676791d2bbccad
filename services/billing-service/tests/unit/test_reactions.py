"""billing's one place that says who reacts to what, and the consumer built from it."""

from __future__ import annotations

import pytest

from billing_service.reactions import CONSUMER, REACTIONS
from paylinks_events import (
    BillLinksClosed,
    ContactCreated,
    DisputeClosed,
    MatterOpened,
    PaymentDisputed,
    PaymentProcessed,
    PaymentReturned,
    RefundSucceeded,
)

pytestmark = pytest.mark.unit


def test_billing_reacts_to_parties_and_processed_payments_on_their_topics() -> None:
    parties = {ContactCreated, MatterOpened}
    money_back = {RefundSucceeded, PaymentDisputed, DisputeClosed, PaymentReturned}
    pay_links = {BillLinksClosed}  # a void answers once link-service has applied it
    assert set(REACTIONS.event_types) == parties | {PaymentProcessed} | money_back | pay_links
    assert (CONSUMER.name, set(CONSUMER.topics)) == (
        "billing-service",
        {"practice.events", "payment.events", "link.events"},
    )
