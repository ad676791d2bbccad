"""The processor's webhook events (CONTRACT.md section 3, docs/processor-api.md), as link-service reads them:
a tolerant reader (extra fields ignored), strict on what it uses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

Id = Annotated[str, Field(min_length=1, max_length=200)]
Amount = Annotated[int, Field(strict=True, ge=0)]


class ReportData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    firm_id: Id | None = None


class PaymentData(ReportData):
    payment_id: Id


class PaymentSucceeded(PaymentData):
    fee: Amount = 0
    fee_id: Id | None = None
    fee_bank_account_id: Id | None = None


class PaymentFailedData(PaymentData):
    reason: str = Field(default="failed", min_length=1, max_length=200)


class PaymentReturnedData(PaymentData):
    reason: str = Field(min_length=1, max_length=200)


class RefundData(PaymentData):
    refund_id: Id
    reason: str | None = Field(default=None, max_length=200)


class DisputeCreated(PaymentData):
    dispute_id: Id
    amount: Amount
    reason: str = Field(min_length=1, max_length=200)
    evidence_due_by: datetime
    fee: Amount = 0
    fee_id: Id | None = None
    fee_bank_account_id: Id | None = None


class DisputeClosedData(PaymentData):
    dispute_id: Id
    outcome: Literal["won", "lost"]
    fee_refund: Amount = 0
    fee_id: Id | None = None


class PayoutLineData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    type: Literal["payment", "refund", "dispute", "dispute_won", "return", "fee"]
    payment_id: Id
    refund_id: Id | None = None
    fee_id: Id | None = None
    amount: int


class PayoutData(ReportData):
    payout_id: Id
    bank_account_id: Id
    amount: int
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    arrival_date: date
    lines: tuple[PayoutLineData, ...]

    @model_validator(mode="after")
    def _amount_is_the_sum_of_its_lines(self) -> PayoutData:
        if sum(line.amount for line in self.lines) != self.amount:
            raise ValueError("a payout's amount must be the sum of its lines")
        return self


DATA_OF_TYPE: dict[str, type[ReportData]] = {
    "payment.succeeded": PaymentSucceeded,
    "payment.failed": PaymentFailedData,
    "payment.returned": PaymentReturnedData,
    "refund.succeeded": RefundData,
    "refund.failed": RefundData,
    "dispute.created": DisputeCreated,
    "dispute.closed": DisputeClosedData,
    "payout.paid": PayoutData,
}


class Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: Id
    type: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]


def parse_data(webhook: Webhook) -> ReportData | None:
    """The typed data of a known type (raises pydantic.ValidationError when malformed); None when unknown."""
    model = DATA_OF_TYPE.get(webhook.type)
    return None if model is None else TypeAdapter(model).validate_python(webhook.data)
