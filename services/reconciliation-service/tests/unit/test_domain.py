"""The payment-link aggregate: the decisions, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paylinks_events import PaymentLinked, PaymentUnlinked
from paylinks_runtime.aggregate import DomainError
from reconciliation_service.domain import LinkTarget, PaymentLink, PaymentRef, TargetRequest

pytestmark = pytest.mark.unit

REF = PaymentRef("firm-1", "pay-1")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MATTER = TargetRequest(matter_id="m-1")
FOUND = LinkTarget(contact_id="c-1", matter_id="m-1")


def new_link() -> PaymentLink:
    return PaymentLink(PaymentLink.stream_id(REF))


def refusal(action) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as caught:
        action()
    return caught.value.code


def test_a_ready_payment_links_to_the_matter_and_its_client() -> None:
    link = new_link()
    link.link(REF, "ready", MATTER, FOUND, "ann", NOW)
    (event,) = link.pending
    assert isinstance(event, PaymentLinked)
    assert (event.firm_id, event.payment_id, event.matter_id, event.contact_id) == (
        "firm-1",
        "pay-1",
        "m-1",
        "c-1",
    )
    assert (event.linked_by, event.linked_at) == ("ann", NOW)


@pytest.mark.parametrize(
    ("status", "code"), [("pending", "payment_not_processed"), ("failed", "payment_failed")]
)
def test_a_payment_not_ready_cannot_be_linked(status: str, code: str) -> None:
    assert refusal(lambda: new_link().link(REF, status, MATTER, FOUND, "ann", NOW)) == code


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (TargetRequest(matter_id="m-x"), "unknown_matter"),
        (TargetRequest(contact_id="c-x"), "unknown_contact"),
    ],
)
def test_an_unknown_target_cannot_be_linked(request_: TargetRequest, code: str) -> None:
    assert refusal(lambda: new_link().link(REF, "ready", request_, None, "ann", NOW)) == code


@pytest.mark.parametrize("fields", [{}, {"matter_id": "m", "contact_id": "c"}])
def test_exactly_one_target_must_be_asked_for(fields: dict[str, str]) -> None:
    assert refusal(lambda: TargetRequest(**fields)) == "invalid_target"


def test_a_linked_payment_refuses_a_second_link_even_after_replay() -> None:
    first = new_link()
    first.link(REF, "ready", MATTER, FOUND, "ann", NOW)
    replayed = PaymentLink.replay(first.id, first.pending)
    assert replayed.linked
    assert replayed.version == 1
    assert refusal(lambda: replayed.link(REF, "ready", MATTER, FOUND, "bob", NOW)) == "already_linked"


def test_unlink_needs_a_link_and_then_allows_a_new_one() -> None:
    link = new_link()
    assert refusal(lambda: link.unlink(REF, "wrong", "ann", NOW)) == "not_linked"
    link.link(REF, "ready", MATTER, FOUND, "ann", NOW)
    link.unlink(REF, "wrong matter", "ann", NOW)
    assert isinstance(link.pending[-1], PaymentUnlinked)
    assert link.pending[-1].reason == "wrong matter"
    link.link(REF, "ready", MATTER, FOUND, "ann", NOW)
    assert link.linked


def test_each_change_is_later_than_the_one_before_even_if_the_clock_is_not() -> None:
    link = new_link()
    link.link(REF, "ready", MATTER, FOUND, "ann", NOW)
    link.unlink(REF, "wrong", "ann", NOW - timedelta(seconds=5))  # a clock that went back
    link.link(REF, "ready", MATTER, FOUND, "ann", NOW)
    times = [e.linked_at if isinstance(e, PaymentLinked) else e.unlinked_at for e in link.pending]  # type: ignore[attr-defined]
    assert times == sorted(set(times))
