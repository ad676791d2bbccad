"""Linking and unlinking on the in-memory unit of work: what is saved, published and projected, and what is
refused, without Kafka or Postgres (the integration tests run the same handlers on Postgres)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from paylinks_events import Envelope, PaymentLinked, PaymentUnlinked
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.auth import PaymentGrant
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter
from reconciliation_service import commands
from reconciliation_service.domain import LinkTarget, PaymentLink, PaymentRef, TargetRequest
from reconciliation_service.grants import GRANT_SPENT
from reconciliation_service.tables import Row

pytestmark = pytest.mark.unit

FIRM = "firm-1"
PAYMENT = PaymentRef(FIRM, "p-1")
MATTER = TargetRequest(matter_id="m-1")


@dataclass
class FakeReconciliationTables:
    """The read model as dicts: payment statuses, the firm's matters (with their client) and contacts."""

    statuses: dict[PaymentRef, str] = field(default_factory=lambda: {PAYMENT: "processed"})
    matters: dict[tuple[str, str], str] = field(default_factory=lambda: {(FIRM, "m-1"): "c-1"})
    contacts: set[tuple[str, str]] = field(default_factory=lambda: {(FIRM, "c-1")})
    applied: list[Envelope] = field(default_factory=list)
    refunding: set[PaymentRef] = field(default_factory=set)
    spent_grants: set[str] = field(default_factory=set)
    holds: int = 0

    async def hold_read_model(self) -> None:
        self.holds += 1

    async def payment_status(self, ref: PaymentRef) -> str | None:
        return self.statuses.get(ref)

    async def resolve_target(self, firm_id: str, request: TargetRequest) -> LinkTarget | None:
        if request.matter_id is not None:
            client = self.matters.get((firm_id, request.matter_id))
            return LinkTarget(contact_id=client, matter_id=request.matter_id) if client else None
        known = (firm_id, str(request.contact_id)) in self.contacts
        return LinkTarget(contact_id=request.contact_id, matter_id=None) if known else None

    async def refund_in_progress(self, ref: PaymentRef) -> bool:
        return ref in self.refunding

    async def spend_grant(self, grant: PaymentGrant) -> None:
        if grant.grant_id in self.spent_grants:
            raise DomainError(GRANT_SPENT, "this link was already used")
        self.spent_grants.add(grant.grant_id)

    async def apply(self, envelopes: Iterable[Envelope]) -> None:
        self.applied.extend(envelopes)

    async def payment(self, ref: PaymentRef) -> Row | None:
        if ref not in self.statuses:
            return None
        links = [e.event for e in self.applied if e.event.payment_id == ref.payment_id]  # type: ignore[attr-defined]
        row: dict[str, Any] = {"payment_id": ref.payment_id, "status": self.statuses[ref]}
        row["linked"] = bool(links) and isinstance(links[-1], PaymentLinked)
        return row


def writer() -> FakeWriter[FakeReconciliationTables]:
    return FakeWriter(FakeUnitOfWork(FakeReconciliationTables()))


def stream(w: FakeWriter[FakeReconciliationTables]) -> list[type]:
    return [type(e) for e in w.uow.events(PaymentLink.stream_id(PAYMENT))]


async def test_link_saves_publishes_and_projects_payment_linked() -> None:
    w = writer()
    row = await commands.link_payment(w, PAYMENT, MATTER, "staff-1")
    [linked] = w.uow.published()
    assert isinstance(linked, PaymentLinked)
    assert (linked.matter_id, linked.contact_id, linked.linked_by) == ("m-1", "c-1", "staff-1")
    assert [e.event for e in w.uow.tables.applied] == [linked]
    assert row["linked"] is True
    assert w.uow.tables.holds == 1  # a rebuild's switch-over waits for the command


async def test_link_to_a_contact_keeps_no_matter() -> None:
    w = writer()
    await commands.link_payment(w, PAYMENT, TargetRequest(contact_id="c-1"), "staff-1")
    [linked] = w.uow.published()
    assert (linked.matter_id, linked.contact_id) == (None, "c-1")  # type: ignore[attr-defined]


async def test_a_second_link_is_refused_until_unlinked() -> None:
    w = writer()
    await commands.link_payment(w, PAYMENT, MATTER, "staff-1")
    with pytest.raises(DomainError) as refused:
        await commands.link_payment(w, PAYMENT, MATTER, "staff-2")
    assert refused.value.code == "already_linked"
    row = await commands.unlink_payment(w, PAYMENT, "wrong matter", "staff-2")
    await commands.link_payment(w, PAYMENT, MATTER, "staff-2")
    assert row["linked"] is False
    assert stream(w) == [PaymentLinked, PaymentUnlinked, PaymentLinked]


@pytest.mark.parametrize(
    ("statuses", "request_", "code"),
    [
        ({}, MATTER, "payment_not_found"),
        ({PaymentRef("another-firm", "p-1"): "processed"}, MATTER, "payment_not_found"),
        ({PAYMENT: "pending"}, MATTER, "payment_not_processed"),
        ({PAYMENT: "failed"}, MATTER, "payment_failed"),
        ({PAYMENT: "processed"}, TargetRequest(matter_id="m-of-nobody"), "unknown_matter"),
        ({PAYMENT: "processed"}, TargetRequest(contact_id="c-of-nobody"), "unknown_contact"),
    ],
)
async def test_link_refusals_save_nothing(
    statuses: dict[PaymentRef, str], request_: TargetRequest, code: str
) -> None:
    w = writer()
    w.uow.tables.statuses = statuses
    with pytest.raises(DomainError) as refused:
        await commands.link_payment(w, PAYMENT, request_, "staff-1")
    assert refused.value.code == code
    assert w.uow.outbox == []
    assert w.uow.tables.applied == []


async def test_a_matter_of_another_firm_is_unknown() -> None:
    w = writer()
    w.uow.tables.matters = {("another-firm", "m-1"): "c-1"}
    with pytest.raises(DomainError) as refused:
        await commands.link_payment(w, PAYMENT, MATTER, "staff-1")
    assert refused.value.code == "unknown_matter"


async def test_unlinking_a_payment_that_is_not_linked_is_refused() -> None:
    w = writer()
    with pytest.raises(DomainError) as refused:
        await commands.unlink_payment(w, PAYMENT, "no reason", "staff-1")
    assert refused.value.code == "not_linked"
    assert stream(w) == []


async def test_a_refund_in_progress_holds_the_link_where_it_is() -> None:
    w = writer()
    await commands.link_payment(w, PAYMENT, MATTER, "staff-1")
    w.uow.tables.refunding.add(PAYMENT)
    with pytest.raises(DomainError) as refused:
        await commands.unlink_payment(w, PAYMENT, "wrong matter", "staff-2")
    assert refused.value.code == "refund_in_progress"
    w.uow.tables.refunding.clear()
    await commands.unlink_payment(w, PAYMENT, "wrong matter", "staff-2")
    assert stream(w) == [PaymentLinked, PaymentUnlinked]


async def test_an_emailed_grant_is_spent_by_one_link_action() -> None:
    w = writer()
    grant = PaymentGrant("g-1", FIRM, PAYMENT.payment_id, "office@firm.example", datetime.now(UTC))
    await commands.link_payment(w, PAYMENT, MATTER, grant.recipient, grant)
    await commands.unlink_payment(w, PAYMENT, "wrong matter", "staff-1")
    with pytest.raises(DomainError) as refused:
        await commands.link_payment(w, PAYMENT, MATTER, grant.recipient, grant)
    assert refused.value.code == GRANT_SPENT
    assert stream(w) == [PaymentLinked, PaymentUnlinked]
