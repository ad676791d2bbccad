"""The staff API of the money after the payment (CONTRACT.md §2 v2): the three-way trust reconciliation,
the deposits, and the bookkeeper's CSV exports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime

from paylinks_runtime.errors import ApiError, not_found

from . import exports, money_queries
from .dependencies import Conn, Staff
from .responses import CSV_RESPONSE, Deposits, TrustReconciliationView
from .trust import TrustReconciliation, reconcile

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["reconciliation"])
BankAccountId = Annotated[str, Query(min_length=1, max_length=200)]


@router.get("/trust-reconciliation", response_model=TrustReconciliationView)
async def trust_reconciliation(
    staff: Staff, conn: Conn, bank_account_id: BankAccountId, as_of: AwareDatetime | None = None
) -> dict[str, Any]:
    as_of = as_of or datetime.now(UTC)
    account = await money_queries.bank_account(conn, staff.firm_id, bank_account_id)
    if account is None:
        raise not_found("bank account")
    if account["kind"] != "trust":
        raise ApiError(422, "not_a_trust_account", "a trust reconciliation is only for a trust account")
    firm = staff.firm_id
    result = reconcile(
        bank_account_id,
        as_of,
        account["currency"],
        await money_queries.positions(conn, firm, bank_account_id, as_of),
        await money_queries.deposited(conn, firm, bank_account_id, as_of),
        await money_queries.fees_on_account(conn, firm, bank_account_id, as_of),
    )
    if result.fees_on_trust:
        log.error("fees found on a trust account", firm_id=firm, bank_account_id=bank_account_id)
    return reconciliation_view(result)


@router.get("/deposits", response_model=Deposits)
async def deposits(
    staff: Staff,
    conn: Conn,
    bank_account_id: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> dict[str, Any]:
    rows = await money_queries.deposits(conn, staff.firm_id, bank_account_id, from_, to)
    return {"items": [exports.deposit_item(r) for r in rows]}


@router.get("/deposits.csv", response_class=Response, responses=CSV_RESPONSE)
async def deposits_csv(
    staff: Staff,
    conn: Conn,
    bank_account_id: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    rows = await money_queries.deposits(conn, staff.firm_id, bank_account_id, from_, to)
    return csv_response(exports.deposits_csv(rows), "deposits")


@router.get("/payments.csv", response_class=Response, responses=CSV_RESPONSE)
async def payments_csv(
    staff: Staff,
    conn: Conn,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    rows = await money_queries.payments_export(conn, staff.firm_id, from_, to)
    return csv_response(exports.payments_csv(rows), "payments")


def csv_response(document: str, name: str) -> Response:
    return Response(
        document,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def reconciliation_view(result: TrustReconciliation) -> dict[str, Any]:
    return {
        "bank_account_id": result.bank_account_id,
        "as_of": result.as_of,
        "currency": result.currency,
        "deposited": result.deposited,
        "in_transit": result.in_transit,
        "ledger": result.ledger,
        "client_ledgers": [
            {"matter_id": c.matter_id, "contact_id": c.contact_id, "balance": c.balance, "at_risk": c.at_risk}
            for c in result.client_ledgers
        ],
        "unidentified": result.unidentified,
        "balanced": result.balanced,
        "fees_on_trust": result.fees_on_trust,
    }
