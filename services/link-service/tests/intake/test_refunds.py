"""Refunds on the real database with the fake processor: concurrent refunds of one payment race on its
stream's version, and together never give back more than it is."""

from __future__ import annotations

import asyncio

from link_service.commands.refunds import RefundCommands
from link_service.domain.payment import Payment, RefundAsk
from link_service.store.refunds import PostgresRefundTables
from paylinks_events import utcnow
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import UnitOfWork

from .conftest import Desk, card


async def processed_payment(desk: Desk, amount: int) -> str:
    link = await desk.link(await desk.account())
    payment_id = await desk.pay(link, card(desk.processor.card(), amount))

    async def process(uow: UnitOfWork) -> None:
        payment = await uow.load(Payment, payment_id)
        payment.succeed(fee=320, fee_id=None, fee_account="operating", now=utcnow())
        await uow.save(payment)

    await desk.writer.execute(process)
    return payment_id


async def test_concurrent_refunds_never_together_exceed_the_payment(desk: Desk) -> None:
    payment_id = await processed_payment(desk, 10_000)
    refunds = RefundCommands(desk.writer.with_tables(PostgresRefundTables), desk.processor)
    ask = RefundAsk(amount=3_000, reason="overpaid", requested_by="admin")
    outcomes = await asyncio.gather(
        *(refunds.refund(desk.firm_id, payment_id, ask) for _ in range(8)), return_exceptions=True
    )
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(accepted) == 3
    assert all(isinstance(o, DomainError) and o.code == "amount_exceeds_refundable" for o in refused)
    requested: int = await desk.pool.fetchval(
        "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'RefundRequested'", payment_id
    )
    assert requested == 3
    assert sum(r.amount for r in desk.processor.refunded(payment_id)) == 9_000
