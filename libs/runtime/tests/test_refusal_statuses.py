"""One mapping from a service's domain refusals to HTTP statuses: the table each service gives
`create_service_app`, by code, with the contract's error body."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.errors import RefusalStatuses, install_error_handlers

pytestmark = pytest.mark.unit


class BillClosed(DomainError):
    """A subclass is mapped by its code like any other refusal."""


def app_refusing(refusals: RefusalStatuses) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, refusals)

    @app.post("/refuse/{code}")
    async def refuse(code: str) -> None:
        raise DomainError(code, f"refused: {code}")

    @app.post("/closed")
    async def closed() -> None:
        raise BillClosed("bill_closed", "the bill is closed")

    return app


async def answer(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/refuse/link_revoked", 410), ("/refuse/payment_declined", 402), ("/refuse/anything_else", 422)],
)
async def test_a_refusal_gets_its_codes_status_and_the_error_body(path: str, status: int) -> None:
    refusals = RefusalStatuses({"link_revoked": 410, "payment_declined": 402}, default=422)
    response = await answer(app_refusing(refusals), path)
    code = path.rsplit("/", 1)[1]
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": f"refused: {code}"}}


async def test_a_refusal_subclass_is_mapped_by_its_code_not_its_class() -> None:
    response = await answer(app_refusing(RefusalStatuses({"bill_closed": 409}, default=422)), "/closed")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "bill_closed")


async def test_a_service_without_a_table_answers_a_refusal_with_409() -> None:
    response = await answer(app_refusing(RefusalStatuses()), "/refuse/whatever")
    assert response.status_code == 409


def test_the_table_is_asked_directly_by_pages_that_answer_refusals_themselves() -> None:
    refusals = RefusalStatuses({"grant_spent": 403}, default=422)
    assert refusals.status(DomainError("grant_spent", "used")) == 403
    assert refusals.status(DomainError("invalid_target", "both")) == 422
