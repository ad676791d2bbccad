"""billing's one place that says who reacts to what, and the consumer built from it."""

from __future__ import annotations

import pytest

from billing_service.reactions import CONSUMER, REACTIONS
from paylinks_events import ContactCreated, MatterOpened, PaymentProcessed

pytestmark = pytest.mark.unit


def test_billing_reacts_to_parties_and_processed_payments_on_their_topics() -> None:
    assert set(REACTIONS.event_types) == {ContactCreated, MatterOpened, PaymentProcessed}
    assert (CONSUMER.name, set(CONSUMER.topics)) == ("billing-service", {"practice.events", "payment.events"})
