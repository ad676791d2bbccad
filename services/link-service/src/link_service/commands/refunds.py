"""Refunds, given back at most once whatever the retries and crashes (intake's charge-once pattern).

1. One transaction records RefundRequested on the Payment's stream, after the aggregate checked what is still
   refundable (two refunds of one payment conflict on its version; the loser decides again and sees the
   other), and the refund's send row (store/refunds.py).
2. The processor is called OUTSIDE any transaction, with `Idempotency-Key: refund:<refund_id>`.
3. A second transaction records its answer: sent (succeeded or failed comes later by webhook), or refused
   (its 422), recorded at once as RefundFailed.

A refund left between 1 and 3 (a crash, no answer) is sent again by `recover_stranded`, with the same key.
An Idempotency-Key names the refund: its id is derived from the payment and the key, so a retry finds the
refund on the payment's stream, and is answered as the first was (another amount or reason: 422).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from paylinks_events import RefundRequested, utcnow
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from ..domain.payment import Payment, RefundAsk, RefundStatus
from ..processor import PaymentProcessor, ProcessorUnavailable, RefundRequest, Rejected
from ..store.refunds import RefundSend, RefundTables
from .errors import NotFound

log = structlog.get_logger(__name__)

UnitOfWork = AbstractUnitOfWork[RefundTables]
Writer = AbstractWriter[RefundTables]

_REFUND_NAMESPACE = uuid.UUID("8f3b2a61-4c1d-4e7a-b0d2-6a5e9c4f7d13")

# The processor's refusals an admin can act on keep their code; any other is `refund_rejected`.
_PROCESSOR_CODES = {"amount_exceeds_refundable", "payment_not_refundable"}


def refund_id_for(payment_id: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_REFUND_NAMESPACE, f"{payment_id}:{idempotency_key}"))


@dataclass(frozen=True)
class RefundView:
    refund_id: str
    payment_id: str
    amount: int
    status: RefundStatus
    reason: str
    requested_by: str
    requested_at: datetime


def _view(payment: Payment, requested: RefundRequested) -> RefundView:
    return RefundView(
        refund_id=requested.refund_id,
        payment_id=payment.id,
        amount=requested.amount,
        status=payment.refund_status(requested.refund_id),
        reason=requested.reason,
        requested_by=requested.requested_by,
        requested_at=requested.requested_at,
    )


@dataclass(frozen=True)
class _Recorded:
    view: RefundView
    send: RefundSend
    first: bool  # False: a retry with the same Idempotency-Key


class RefundCommands:
    def __init__(self, writer: Writer, processor: PaymentProcessor) -> None:
        self._writer = writer
        self._processor = processor

    async def refund(
        self, firm_id: str, payment_id: str, ask: RefundAsk, idempotency_key: str | None = None
    ) -> RefundView:
        """The refund requested (status pending); raises DomainError when it is refused."""
        refund_id = refund_id_for(payment_id, idempotency_key)

        async def record(uow: UnitOfWork) -> _Recorded:
            return await _record(uow, firm_id, payment_id, refund_id, ask)

        recorded = await self._writer.execute(record)
        send = recorded.send
        if recorded.first:
            try:
                send = await self._send(send)
            except ProcessorUnavailable as exc:
                log.warning(
                    "refund outcome unknown; upkeep sends it again", refund_id=refund_id, error=str(exc)
                )
        if send.state == "refused":
            raise _refusal(send.refusal_code)
        return recorded.view

    async def refunds_of(self, firm_id: str, payment_id: str) -> list[RefundView]:
        async def read(uow: UnitOfWork) -> list[RefundView]:
            payment = await _firm_payment(uow, firm_id, payment_id)
            return [_view(payment, requested) for requested in payment.refunds.values()]

        return await self._writer.execute(read)

    async def recover_stranded(self, older_than_seconds: float) -> int:
        """Send again each refund left sending (same key: never a second refund); returns how many ended."""

        async def stranded(uow: UnitOfWork) -> list[RefundSend]:
            return await uow.tables.stranded(older_than_seconds)

        finished = 0
        for send in await self._writer.execute(stranded):
            try:
                ended = await self._send(send)
            except ProcessorUnavailable as exc:
                log.warning(
                    "stranded refund still without an answer",
                    refund_id=send.request.refund_id,
                    error=str(exc),
                )
                continue
            log.info("stranded refund finished", refund_id=send.request.refund_id, state=ended.state)
            finished += 1
        return finished

    async def _send(self, send: RefundSend) -> RefundSend:
        """Ask the processor (outside any transaction), then record its answer.

        Raises ProcessorUnavailable: the refund stays sending, and is sent again."""
        outcome = await self._processor.refund(send.request)

        async def finish(uow: UnitOfWork) -> RefundSend:
            current = await uow.tables.find(send.request.refund_id, lock=True)
            assert current is not None
            if current.state != "sending":
                return current  # the request and the recovery both sent it: the first to record wins
            # refund_id_used: the processor already holds this very refund (a send whose answer was lost).
            if isinstance(outcome, Rejected) and outcome.code != "refund_id_used":
                return await _refused(uow, current, outcome.code)
            await uow.tables.mark(current.request.refund_id, "sent")
            return replace(current, state="sent")

        return await self._writer.execute(finish)


async def _record(
    uow: UnitOfWork, firm_id: str, payment_id: str, refund_id: str, ask: RefundAsk
) -> _Recorded:
    payment = await _firm_payment(uow, firm_id, payment_id)
    earlier = payment.refunds.get(refund_id)
    if earlier is not None:
        if (earlier.amount, earlier.reason) != (ask.amount, ask.reason):
            raise DomainError(
                "idempotency_key_reused", "This Idempotency-Key was used with a different request."
            )
        send = await uow.tables.find(refund_id)
        assert send is not None  # written with the event
        return _Recorded(_view(payment, earlier), send, first=False)
    requested = payment.request_refund(refund_id, ask, utcnow())
    request = RefundRequest(refund_id=refund_id, payment_id=payment_id, amount=ask.amount)
    await uow.save(payment)
    await uow.tables.record(request)
    return _Recorded(_view(payment, requested), RefundSend(request, "sending"), first=True)


async def _refused(uow: UnitOfWork, send: RefundSend, code: str) -> RefundSend:
    payment = await uow.load(Payment, send.request.payment_id)
    payment.refund_failed(send.request.refund_id, code, utcnow())
    await uow.save(payment)
    await uow.tables.mark(send.request.refund_id, "refused", code)
    return replace(send, state="refused", refusal_code=code)


async def _firm_payment(uow: UnitOfWork, firm_id: str, payment_id: str) -> Payment:
    """The firm's payment; another firm's or an unknown one (or another kind of stream) is not found."""
    payment = await uow.load(Payment, payment_id)
    if payment.received is None or payment.received.firm_id != firm_id:
        raise NotFound("payment")
    return payment


def _refusal(code: str | None) -> DomainError:
    if code in _PROCESSOR_CODES:
        return DomainError(str(code), "The payment processor refused the refund: nothing was given back.")
    return DomainError("refund_rejected", f"The payment processor refused the refund ({code}).")
