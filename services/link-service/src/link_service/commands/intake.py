"""Payment intake, charged at most once whatever the retries and crashes.

1. The attempt is recorded (its payment id, what to charge, what to receive) after checking the link, the
   amount against the balance due (in-flight and accepted payments counted) and the Idempotency-Key.
   Decided on the link as the request found it, it is recorded by one atomic statement that reserves the
   amount on the bill's row under its lock, and only if the bill and link still allow it
   (AttemptLedger.start). Anything else (a refusal, a key used before, a bill that moved) is decided
   again in a unit of work holding the bill's row lock, and the refusal is recorded.
2. The processor is called OUTSIDE any transaction, with `Idempotency-Key: payment:<payment_id>`: every send
   of this payment (a retry of the adapter, the recovery after a crash) is the same charge to it.
3. A second transaction records what it answered: PaymentReceived in one statement with the attempt's end
   (AttemptLedger.receive), or the refusal (a unit of work).

An attempt left between 2 and 3 (a crash, no answer) is sent again by `recover_stranded`, with the same key.
The Writer may retry 1 or 3 on a conflict; neither calls the processor.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace

import structlog

from paylinks_events import Payer, utcnow
from paylinks_events.models import PaymentMethod
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.event_store import ConcurrencyError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from ..domain import echeck_authorization
from ..domain.pay_target import PayTarget
from ..domain.payment import Payment, Receipt
from ..processor import (
    Charged,
    ChargeOutcome,
    ChargeRequest,
    Declined,
    PaymentProcessor,
    ProcessorUnavailable,
)
from ..store.attempts import Attempt, KeyClaim
from ..store.intake_tables import AttemptLedger, IntakeTables
from .errors import (
    AuthorizationRequired,
    FeeAccountRequired,
    InFlight,
    NotFound,
    PaymentDeclined,
    PaymentPending,
    rejection,
)

log = structlog.get_logger(__name__)

UnitOfWork = AbstractUnitOfWork[IntakeTables]
Writer = AbstractWriter[IntakeTables]


@dataclass(frozen=True)
class PaymentRequest:
    """What a payer sends (CONTRACT.md section 2, v2): a processor token, never card or bank numbers."""

    amount: int
    method: PaymentMethod
    payment_method: str
    payer: Payer
    reference: str | None = None
    via_qr: bool = False
    authorization_accepted: bool = False

    def fingerprint(self, link_id: str) -> str:
        """What makes two requests "the same" for an Idempotency-Key: the link and everything sent."""
        fields = {
            "link_id": link_id,
            "amount": self.amount,
            "method": self.method,
            "payment_method": self.payment_method,
            "payer": self.payer.model_dump(),
            "reference": self.reference,
            "via_qr": self.via_qr,
            "authorization_accepted": self.authorization_accepted,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def check_authorized(self) -> None:
        if self.method == "echeck" and not self.authorization_accepted:
            raise AuthorizationRequired()


class PaymentIntake:
    def __init__(
        self, writer: Writer, ledger: AttemptLedger, processor: PaymentProcessor, *, limit: int
    ) -> None:
        self._writer = writer
        self._ledger = ledger
        self._processor = processor
        self._limit = limit

    async def pay(
        self, target: PayTarget, request: PaymentRequest, idempotency_key: str | None = None
    ) -> str:
        """The payment id of the received payment; raises DomainError when it is refused.

        `target` is the link as the request found it (read without a lock)."""
        payment_id = str(uuid.uuid4())
        attempt = await self._start_at_once(target, request, idempotency_key, payment_id)
        if attempt is None:

            async def start(uow: UnitOfWork) -> Attempt:
                return await self._start(uow, target.link_id, request, idempotency_key, payment_id)

            attempt = await self._writer.execute(start)
        if attempt.payment_id == payment_id and attempt.state == "charging":
            try:
                attempt = await self._send(attempt)
            except ProcessorUnavailable as exc:
                log.warning(
                    "charge outcome unknown; recovery sends it again", payment_id=payment_id, error=str(exc)
                )
                raise PaymentPending() from exc
        return _answer(attempt)

    async def recover_stranded(self, older_than_seconds: float) -> int:
        """Send again each attempt left charging (same key: never a second charge); returns how many ended."""
        finished = 0
        for payment_id in await self._ledger.stranded(older_than_seconds):
            attempt = await self._ledger.find(payment_id)
            if attempt is None or attempt.state != "charging":
                continue
            try:
                ended = await self._send(attempt)
            except ProcessorUnavailable as exc:
                log.warning("stranded payment still without an answer", payment_id=payment_id, error=str(exc))
                continue
            log.info("stranded payment finished", payment_id=payment_id, state=ended.state)
            finished += 1
        return finished

    async def forget_expired_keys(self) -> int:
        return await self._ledger.forget_expired_keys()

    async def _start_at_once(
        self, target: PayTarget, request: PaymentRequest, key: str | None, payment_id: str
    ) -> Attempt | None:
        """The common payment in one statement; None when it must be decided again under the bill's lock
        (a refusal is recorded there, a key used before answered, a bill that moved read again)."""
        try:
            charge, receipt = self._prepare(target, request, payment_id)
        except DomainError:
            return None
        claim = KeyClaim(target.link_id, key, request.fingerprint(target.link_id)) if key else None
        if await self._ledger.start(charge, receipt, claim) != "started":
            return None
        return Attempt(payment_id, "charging", None, charge, receipt)

    async def _start(
        self, uow: UnitOfWork, link_id: str, request: PaymentRequest, key: str | None, payment_id: str
    ) -> Attempt:
        if key is not None:
            claim = KeyClaim(link_id, key, request.fingerprint(link_id))
            first = await uow.tables.claim_key(claim, payment_id)
            if first is not None:
                found = await uow.tables.find(first)
                assert found is not None  # the key's foreign key
                return found
        try:
            target = await uow.tables.locked_target(link_id)
            if target is None:
                raise NotFound("link")
            charge, receipt = self._prepare(target, request, payment_id)
        except DomainError as refusal:
            await uow.tables.refuse_before_charge(payment_id, link_id, refusal)
            return Attempt(payment_id, "refused", refusal, None, None)
        if await uow.tables.start(charge, receipt) != "started":
            # Checked under the bill's lock, so only a link revoked meanwhile: decide again.
            raise ConcurrencyError(f"link {link_id} changed while its payment was recorded")
        return Attempt(payment_id, "charging", None, charge, receipt)

    def _prepare(
        self, target: PayTarget, request: PaymentRequest, payment_id: str
    ) -> tuple[ChargeRequest, Receipt]:
        """What to charge and what to receive; raises DomainError when the payment must not be sent."""
        target.check_payable(request.amount, limit=self._limit)
        request.check_authorized()
        if target.fee_account is None:
            raise FeeAccountRequired()
        charge = ChargeRequest(
            payment_id=payment_id,
            payment_method=request.payment_method,
            method=request.method,
            amount=request.amount,
            currency=target.currency,
            firm_id=target.firm_id,
            bank_account_id=target.bank_account_id,
            fee_bank_account_id=target.fee_account,
        )
        authorization = None
        if request.method == "echeck":
            authorization = echeck_authorization.accepted(request.payer.name, utcnow())
        receipt = Receipt(
            to=target.destination(via_qr=request.via_qr),
            amount=request.amount,
            method=request.method,
            payer=request.payer,
            reference=request.reference,
            authorization=authorization,
        )
        return charge, receipt

    async def _send(self, attempt: Attempt) -> Attempt:
        """Charge (outside any transaction), then record the answer. Raises ProcessorUnavailable."""
        assert attempt.charge is not None
        outcome = await self._processor.charge(attempt.charge)
        if isinstance(outcome, Charged) and await self._ledger.receive(_received(attempt, outcome)):
            return replace(attempt, state="received")  # the common answer, in one statement

        async def finish(uow: UnitOfWork) -> Attempt:
            return await _finish(uow, attempt.payment_id, outcome)

        return await self._writer.execute(finish)


def _received(attempt: Attempt, outcome: Charged) -> Payment:
    assert attempt.receipt is not None
    return Payment.receive(
        attempt.payment_id,
        attempt.receipt,
        method=outcome.method,
        brand=outcome.brand,
        last4=outcome.last4,
        now=utcnow(),
    )


async def _finish(uow: UnitOfWork, payment_id: str, outcome: ChargeOutcome) -> Attempt:
    """The answer recorded in a unit of work: a refusal, or a charge the one statement did not record."""
    if isinstance(outcome, Charged):
        received = await uow.tables.finish_received(payment_id)
        if received is None:
            return await _recorded(uow, payment_id)
        await uow.save(_received(received, outcome))
        return received
    refusal = PaymentDeclined() if isinstance(outcome, Declined) else rejection(outcome)
    refused = await uow.tables.finish_refused(payment_id, refusal)
    if refused is None:
        return await _recorded(uow, payment_id)
    return replace(refused, refusal=refusal)  # this very refusal: the pay route counts declines by class


async def _recorded(uow: UnitOfWork, payment_id: str) -> Attempt:
    """The answer recorded first: the request and the recovery both sent it, and the first to record wins."""
    attempt = await uow.tables.find(payment_id)
    assert attempt is not None
    return attempt


def _answer(attempt: Attempt) -> str:
    if attempt.state == "refused":
        assert attempt.refusal is not None
        raise attempt.refusal
    if attempt.state == "charging":
        raise InFlight()
    return attempt.payment_id
