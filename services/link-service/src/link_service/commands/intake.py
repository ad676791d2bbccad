"""Payment intake, charged at most once whatever the retries and crashes.

1. One transaction records the attempt (its payment id, what to charge, what to receive), after checking the
   link, the amount against the balance due (the bill's row locked, in-flight and accepted payments counted)
   and the Idempotency-Key.
2. The processor is called OUTSIDE any transaction, with `Idempotency-Key: payment:<payment_id>`: every send
   of this payment (a retry of the adapter, the recovery after a crash) is the same charge to it.
3. A second transaction records what it answered: PaymentReceived, or the refusal.

An attempt left between 2 and 3 (a crash, no answer) is sent again by `recover_stranded`, with the same key.
The Writer may retry 1 or 3 on a conflict; neither calls the processor.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace

import asyncpg
import structlog

from paylinks_events import Payer, utcnow
from paylinks_events.models import PaymentMethod
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from ..domain import echeck_authorization
from ..domain.payment import Payment, Receipt
from ..processor import (
    Charged,
    ChargeOutcome,
    ChargeRequest,
    Declined,
    PaymentProcessor,
    ProcessorUnavailable,
)
from ..store import attempts, firms, idempotency, links
from ..store.attempts import Attempt
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
    def __init__(self, writer: Writer, processor: PaymentProcessor, *, limit: int) -> None:
        self._writer = writer
        self._processor = processor
        self._limit = limit

    @property
    def pool(self) -> asyncpg.Pool:
        return self._writer.pool

    async def pay(self, link_id: str, request: PaymentRequest, idempotency_key: str | None = None) -> str:
        """The payment id of the received payment; raises DomainError when it is refused."""
        payment_id = str(uuid.uuid4())

        async def start(uow: UnitOfWork) -> Attempt:
            return await self._start(uow, link_id, request, idempotency_key, payment_id)

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
        async with self._writer.pool.acquire() as conn:
            stranded = await attempts.stranded(conn, older_than_seconds)
        finished = 0
        for payment_id in stranded:
            async with self._writer.pool.acquire() as conn:
                attempt = await attempts.find(conn, payment_id)
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

    async def _start(
        self, uow: UnitOfWork, link_id: str, request: PaymentRequest, key: str | None, payment_id: str
    ) -> Attempt:
        if key is not None:
            first = await idempotency.claim(uow.conn, link_id, key, request.fingerprint(link_id), payment_id)
            if first is not None:
                found = await attempts.find(uow.conn, first)
                assert found is not None  # the key's foreign key
                return found
        try:
            charge, receipt = await self._prepare(uow, link_id, request, payment_id)
        except DomainError as refusal:
            await attempts.refuse_before_charge(uow.conn, payment_id, link_id, refusal)
            return Attempt(payment_id, "refused", refusal, None, None)
        await attempts.start(uow.conn, charge, receipt)
        return Attempt(payment_id, "charging", None, charge, receipt)

    async def _prepare(
        self, uow: UnitOfWork, link_id: str, request: PaymentRequest, payment_id: str
    ) -> tuple[ChargeRequest, Receipt]:
        target = await links.target_for_payment(uow.conn, link_id)
        if target is None:
            raise NotFound("link")
        target.check_payable(request.amount, limit=self._limit)
        request.check_authorized()
        fee_account = await firms.fee_account(uow.conn, target.firm_id)
        if fee_account is None:
            raise FeeAccountRequired()
        charge = ChargeRequest(
            payment_id=payment_id,
            payment_method=request.payment_method,
            method=request.method,
            amount=request.amount,
            currency=target.currency,
            firm_id=target.firm_id,
            bank_account_id=target.bank_account_id,
            fee_bank_account_id=fee_account,
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

        async def finish(uow: UnitOfWork) -> Attempt:
            return await _finish(uow, attempt.payment_id, outcome)

        return await self._writer.execute(finish)


async def _finish(uow: UnitOfWork, payment_id: str, outcome: ChargeOutcome) -> Attempt:
    attempt = await attempts.locked(uow.conn, payment_id)
    assert attempt is not None
    if attempt.state != "charging":
        return attempt  # the request and the recovery both sent it: the first to record wins
    if isinstance(outcome, Charged):
        assert attempt.receipt is not None
        payment = Payment.receive(
            payment_id,
            attempt.receipt,
            method=outcome.method,
            brand=outcome.brand,
            last4=outcome.last4,
            now=utcnow(),
        )
        await uow.save(payment)
        await attempts.mark_received(uow.conn, payment_id)
        return replace(attempt, state="received")
    refusal = PaymentDeclined() if isinstance(outcome, Declined) else rejection(outcome)
    await attempts.mark_refused(uow.conn, payment_id, refusal)
    return replace(attempt, state="refused", refusal=refusal)


def _answer(attempt: Attempt) -> str:
    if attempt.state == "refused":
        assert attempt.refusal is not None
        raise attempt.refusal
    if attempt.state == "charging":
        raise InFlight()
    return attempt.payment_id
