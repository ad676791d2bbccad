"""The notifier's one place that says who reacts to what: the events it learns names from, the events it
emails, and so the topics its consumer reads."""

from __future__ import annotations

import pytest

from notifier.config import Settings
from notifier.reactions import REACTIONS, consumer
from paylinks_events import (
    BankAccountRegistered,
    BillIssued,
    BillPaymentApplied,
    DisputeClosed,
    FirmProfileUpdated,
    LinkPaused,
    PaymentDisputed,
    PaymentFailed,
    PaymentLinked,
    PaymentProcessed,
    PaymentReceived,
    PaymentReturned,
    PaymentUnallocated,
    PaymentUnlinked,
    RefundFailed,
    RefundRequested,
    RefundSucceeded,
)

pytestmark = pytest.mark.unit


def test_the_notifier_reacts_to_the_emailed_events_and_the_ones_that_name_things() -> None:
    assert set(REACTIONS.event_types) == {
        # names and facts an email needs
        BankAccountRegistered,
        FirmProfileUpdated,
        BillIssued,
        BillPaymentApplied,
        PaymentUnallocated,
        RefundRequested,
        # linked or not: the unidentified-trust reminder
        PaymentLinked,
        PaymentUnlinked,
        # the emailed events
        PaymentReceived,
        PaymentProcessed,
        PaymentFailed,
        PaymentReturned,
        RefundSucceeded,
        RefundFailed,
        PaymentDisputed,
        DisputeClosed,
        LinkPaused,  # not a payment: a pay link paused after declined cards (issue 18)
    }


def test_its_consumer_reads_the_topics_of_those_events() -> None:
    spec = consumer(Settings())
    assert (spec.name, set(spec.topics)) == (
        "notifier",
        {
            "link.events",
            "payment.events",
            "billing.events",
            "reconciliation.events",
        },
    )
