"""link-service's one place that says who reacts to what: the bills view from billing.events."""

from __future__ import annotations

import pytest

from link_service.reactions import CONSUMER, REACTIONS
from paylinks_events import (
    BillIssued,
    BillPaid,
    BillPaymentApplied,
    BillPaymentReversed,
    BillVoided,
    PaymentUnallocated,
)

pytestmark = pytest.mark.unit


def test_link_service_reacts_to_the_bill_events_on_billing_events() -> None:
    bills = {BillIssued, BillPaymentApplied, BillPaymentReversed, BillVoided, BillPaid}
    assert set(REACTIONS.event_types) == bills | {PaymentUnallocated}  # settled: no longer pending
    assert (CONSUMER.name, tuple(CONSUMER.topics)) == ("link-service", ("billing.events",))
