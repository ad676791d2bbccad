"""Payment intake: check the link and the amount, submit the charge, record PaymentReceived, all in one
transaction; with an Idempotency-Key, a retry gets the first attempt's outcome."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass

from paylinks_events import Payer, utcnow
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import UnitOfWork, Writer

from ..domain.instruments import Instrument, method_of
from ..domain.payment import Payment
from ..processor import Charge, Declined, PaymentProcessor
from ..store import idempotency, links
from ..tokens import LinkTokens
from .errors import NotFound, PaymentDeclined


@dataclass(frozen=True)
class PaymentRequest:
    amount: int
    instrument: Instrument
    payer: Payer
    reference: str | None = None
    via_qr: bool = False

    def canonical(self) -> bytes:
        """Everything that makes two requests "the same" for Idempotency-Key purposes."""
        fields = {
            "amount": self.amount,
            "method": method_of(self.instrument),
            "instrument": asdict(self.instrument),
            "payer": self.payer.model_dump(),
            "reference": self.reference,
            "via_qr": self.via_qr,
        }
        return json.dumps(fields, sort_keys=True).encode()


class PaymentIntake:
    def __init__(
        self, writer: Writer, processor: PaymentProcessor, tokens: LinkTokens, *, limit: int
    ) -> None:
        self._writer = writer
        self._processor = processor
        self._tokens = tokens
        self._limit = limit

    async def pay(self, link_id: str, request: PaymentRequest, idempotency_key: str | None = None) -> str:
        """The payment id of the received payment; raises DomainError when it is refused."""
        if idempotency_key is None:
            return await self._accept(link_id, request, None)
        recorded = await self._claim(link_id, idempotency_key, request)
        if recorded is not None:
            if recorded.refusal is not None:
                raise recorded.refusal
            assert recorded.payment_id is not None
            return recorded.payment_id
        return await self._accept_once(link_id, request, idempotency_key)

    async def _claim(
        self, link_id: str, key: str, request: PaymentRequest
    ) -> idempotency.RecordedOutcome | None:
        async with self._writer.pool.acquire() as conn:
            return await idempotency.claim(conn, link_id, key, self._tokens.fingerprint(request.canonical()))

    async def _accept_once(self, link_id: str, request: PaymentRequest, key: str) -> str:
        try:
            return await self._accept(link_id, request, key)
        except DomainError as refusal:
            async with self._writer.pool.acquire() as conn:
                await idempotency.complete(conn, link_id, key, refusal=refusal)
            raise
        except Exception:
            async with self._writer.pool.acquire() as conn:
                await idempotency.release(conn, link_id, key)
            raise

    async def _accept(self, link_id: str, request: PaymentRequest, key: str | None) -> str:
        async def command(uow: UnitOfWork) -> str:
            target = await links.target(uow.conn, link_id)
            if target is None:
                raise NotFound("link")
            target.check_payable(request.amount, limit=self._limit)
            payment_id = str(uuid.uuid4())
            charge = Charge(payment_id, target.firm_id, request.amount, target.currency, request.instrument)
            outcome = await self._processor.submit(uow.conn, charge)
            if isinstance(outcome, Declined):
                raise PaymentDeclined(outcome.reason)
            payment = Payment.receive(
                payment_id,
                to=target.destination(via_qr=request.via_qr),
                amount=request.amount,
                instrument=request.instrument,
                payer=request.payer,
                reference=request.reference,
                now=utcnow(),
            )
            await uow.save(payment)
            if key is not None:
                await idempotency.complete(uow.conn, link_id, key, payment_id=payment_id)
            return payment_id

        return await self._writer.execute(command)
