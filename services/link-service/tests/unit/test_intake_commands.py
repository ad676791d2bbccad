"""Payment intake on the in-memory unit of work and tables with the fake processor: what is recorded before
the charge, what the processor is asked (once, with the payment's key), what is saved after, and what is
refused, without Kafka or Postgres (tests/intake runs the same intake on Postgres, races included)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from link_service.commands.intake import PaymentIntake, PaymentRequest
from link_service.domain.pay_target import Bill, PayTarget
from link_service.domain.payment import Payment, Receipt
from link_service.processor import ChargeRequest
from link_service.processor.fake import FakeProcessor
from link_service.store.attempts import Attempt, KeyClaim, StartResult
from paylinks_events import Payer, PaymentReceived
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.fakes import FakeUnitOfWork, FakeWriter

pytestmark = pytest.mark.unit

FIRM = "firm-1"
LIMIT = 2_500_000


@dataclass
class FakeIntakeTables:
    """Links, bills' pending sums, attempts and keys in memory: both the ledger (single statements) and the
    tables a unit of work sees."""

    targets: dict[str, PayTarget] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # bill id -> amount held
    attempts: dict[str, Attempt] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> (fingerprint, payment)
    uow: FakeUnitOfWork[FakeIntakeTables] | None = None  # where the ledger's one statement saves events

    def target(self, link_id: str) -> PayTarget | None:
        found = self.targets.get(link_id)
        if found is None or found.bill is None:
            return found
        return replace(found, pending=self.pending.get(found.bill.bill_id, 0))

    async def start(
        self, charge: ChargeRequest, receipt: Receipt, claim: KeyClaim | None = None
    ) -> StartResult:
        if claim is not None and (claim.link_id, claim.key) in self.keys:
            return "key_used"
        target = self.target(receipt.to.link_id)
        assert target is not None
        bill = target.bill
        if target.revoked_reason or (
            bill and (bill.state != "open" or bill.balance - target.pending < receipt.amount)
        ):
            return "changed"
        if bill:
            self.pending[bill.bill_id] = target.pending + receipt.amount
        if claim is not None:
            self.keys[claim.link_id, claim.key] = (claim.fingerprint, charge.payment_id)
        self.attempts[charge.payment_id] = Attempt(charge.payment_id, "charging", None, charge, receipt)
        return "started"

    async def receive(self, payment: Payment) -> bool:
        assert self.uow is not None
        if self._move(payment.id, "received", None) is None:
            return False
        await self.uow.save(payment)
        return True

    async def find(self, payment_id: str) -> Attempt | None:
        return self.attempts.get(payment_id)

    async def stranded(self, older_than_seconds: float) -> list[str]:
        return [a.payment_id for a in self.attempts.values() if a.state == "charging"]

    async def forget_expired_keys(self) -> int:
        return 0

    async def claim_key(self, claim: KeyClaim, payment_id: str) -> str | None:
        found = self.keys.setdefault((claim.link_id, claim.key), (claim.fingerprint, payment_id))
        if found[1] == payment_id:
            return None
        if found[0] != claim.fingerprint:
            raise DomainError("idempotency_key_reused", "another request")
        return found[1]

    async def locked_target(self, link_id: str) -> PayTarget | None:
        return self.target(link_id)

    async def refuse_before_charge(self, payment_id: str, link_id: str, refusal: DomainError) -> None:
        self.attempts[payment_id] = Attempt(payment_id, "refused", refusal, None, None)

    async def finish_received(self, payment_id: str) -> Attempt | None:
        return self._move(payment_id, "received", None)

    async def finish_refused(self, payment_id: str, refusal: DomainError) -> Attempt | None:
        return self._move(payment_id, "refused", refusal)

    def _move(self, payment_id: str, state: str, refusal: DomainError | None) -> Attempt | None:
        attempt = self.attempts[payment_id]
        if attempt.state != "charging":
            return None
        moved = replace(attempt, state=state, refusal=refusal)  # type: ignore[arg-type]
        self.attempts[payment_id] = moved
        bill_id = attempt.receipt.to.bill_id if attempt.receipt else None
        if state == "refused" and bill_id:
            self.pending[bill_id] -= attempt.receipt.amount if attempt.receipt else 0
        return moved


@dataclass
class Desk:
    intake: PaymentIntake
    processor: FakeProcessor
    tables: FakeIntakeTables
    uow: FakeUnitOfWork[FakeIntakeTables]

    def link(self, *, balance: int | None = None, fee_account: str | None = "operating-1") -> PayTarget:
        link_id = f"link-{len(self.tables.targets)}"
        bill = Bill(f"bill-{link_id}", FIRM, balance, balance, "USD", "open") if balance else None
        target = PayTarget(
            link_id=link_id,
            firm_id=FIRM,
            kind="bill" if bill else "bank_account",
            bank_account_id="trust-1",
            bank_account_name="Client trust",
            currency="USD",
            bill=bill,
            fee_account=fee_account,
        )
        self.tables.targets[link_id] = target
        return target

    def received(self) -> list[PaymentReceived]:
        return [e for e in self.uow.published() if isinstance(e, PaymentReceived)]


def desk() -> Desk:
    tables, processor = FakeIntakeTables(), FakeProcessor()
    uow = tables.uow = FakeUnitOfWork(tables)
    return Desk(PaymentIntake(FakeWriter(uow), tables, processor, limit=LIMIT), processor, tables, uow)


def card(token: str, amount: int = 10_000) -> PaymentRequest:
    return PaymentRequest(amount, "card", token, Payer(name="Ada Client", email="ada@example.com"))


async def refusal(awaitable: object) -> str:
    with pytest.raises(DomainError) as refused:
        await awaitable  # type: ignore[misc]
    return refused.value.code


async def test_a_payment_is_recorded_charged_once_with_its_key_and_received() -> None:
    d = desk()
    target = d.link(balance=50_000)
    payment_id = await d.intake.pay(target, card(d.processor.card("4242", "visa"), 12_500))
    [charge] = d.processor.charged(payment_id)
    assert (charge.idempotency_key, charge.amount, charge.fee_bank_account_id) == (
        f"payment:{payment_id}",
        12_500,
        "operating-1",
    )
    [received] = d.received()
    assert (received.payment_id, received.amount, received.last4) == (payment_id, 12_500, "4242")
    assert d.tables.attempts[payment_id].state == "received"
    assert d.tables.pending[target.bill.bill_id if target.bill else ""] == 12_500


async def test_a_refusal_is_recorded_before_any_charge_and_replayed_for_its_key() -> None:
    d = desk()
    target = d.link(balance=5_000)
    request = card(d.processor.card(), 6_000)
    assert await refusal(d.intake.pay(target, request, "key-1")) == "amount_above_balance"
    assert await refusal(d.intake.pay(target, request, "key-1")) == "amount_above_balance"
    assert d.processor.calls == 0
    assert [a.state for a in d.tables.attempts.values()] == ["refused"]


async def test_a_firm_without_a_fee_account_or_an_unauthorized_echeck_is_refused_before_the_processor() -> (
    None
):
    d = desk()
    assert await refusal(d.intake.pay(d.link(fee_account=None), card(d.processor.card()))) == (
        "fee_account_required"
    )
    echeck = PaymentRequest(5_000, "echeck", d.processor.bank(), Payer(name="Bo", email="bo@example.com"))
    assert await refusal(d.intake.pay(d.link(), echeck)) == "authorization_required"
    assert d.processor.calls == 0


async def test_a_decline_saves_nothing_and_gives_the_amount_back_to_the_bill() -> None:
    d = desk()
    target = d.link(balance=5_000)
    assert await refusal(d.intake.pay(target, card(d.processor.card(declined=True), 5_000))) == (
        "payment_declined"
    )
    assert d.received() == []
    assert d.tables.pending[target.bill.bill_id if target.bill else ""] == 0
    assert await d.intake.pay(target, card(d.processor.card(), 5_000))


async def test_a_payment_decided_on_a_stale_link_is_decided_again_under_the_lock() -> None:
    d = desk()
    stale = d.link(balance=5_000)  # read by two payers before either paid
    await d.intake.pay(stale, card(d.processor.card(), 5_000))
    assert await refusal(d.intake.pay(stale, card(d.processor.card(), 5_000))) == "amount_above_balance"
    assert d.processor.calls == 1
    assert len(d.received()) == 1


async def test_a_key_replays_its_payment_and_refuses_another_request() -> None:
    d = desk()
    target = d.link()
    request = card(d.processor.card())
    first = await d.intake.pay(target, request, "key-2")
    assert await d.intake.pay(target, request, "key-2") == first
    assert await refusal(d.intake.pay(target, card(d.processor.card()), "key-2")) == "idempotency_key_reused"
    assert d.processor.calls == 1
    assert len(d.received()) == 1


async def test_an_unanswered_charge_is_pending_then_recovered_with_the_same_key_once() -> None:
    d = desk()
    target = d.link()
    request = card(d.processor.card())
    d.processor.answer_lost = True
    assert await refusal(d.intake.pay(target, request, "key-3")) == "payment_pending"
    assert await refusal(d.intake.pay(target, request, "key-3")) == "idempotency_key_in_flight"
    d.processor.answer_lost = False
    assert await d.intake.recover_stranded(0) == 1
    payment_id = await d.intake.pay(target, request, "key-3")
    assert len(d.processor.charged(payment_id)) == 1
    assert {r.idempotency_key for r, _ in d.processor.charges.values()} == {f"payment:{payment_id}"}
    assert len(d.received()) == 1
    assert await d.intake.recover_stranded(0) == 0  # nothing left charging
