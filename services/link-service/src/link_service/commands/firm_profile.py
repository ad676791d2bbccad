"""The firm's profile (PUT /v1/firm): its display name and its fee account."""

from __future__ import annotations

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.unit_of_work import AbstractUnitOfWork, AbstractWriter

from ..domain.firm import Firm
from ..store.tables import FirmTables

UnitOfWork = AbstractUnitOfWork[FirmTables]
Writer = AbstractWriter[FirmTables]


async def update_profile(
    writer: Writer,
    firm_id: str,
    display_name: str,
    fee_bank_account_id: str | None,
    minimum_payment_amount: int | None = None,
) -> Firm:
    async def command(uow: UnitOfWork) -> Firm:
        if fee_bank_account_id is not None:
            kind = await uow.tables.account_kind(fee_bank_account_id, firm_id)
            if kind != "operating":
                raise DomainError(
                    "fee_account_not_operating",
                    "fee_bank_account_id must name one of the firm's operating accounts",
                )
        firm = await uow.load(Firm, firm_id)
        firm.update_profile(display_name, fee_bank_account_id, minimum_payment_amount)
        await uow.save(firm)
        await uow.tables.upsert_firm(firm_id, display_name, fee_bank_account_id, minimum_payment_amount)
        return firm

    return await writer.execute(command)
