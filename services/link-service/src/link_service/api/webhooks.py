"""The payment processor's webhook: signature first (on the raw body), then the report, applied once."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from paylinks_runtime import webhook_signature
from paylinks_runtime.errors import ApiError

from ..commands.settlement import ProcessorReport, apply_report
from ..config import WEBHOOK_PATH
from .context import Parts

router = APIRouter(tags=["processor"])


class WebhookData(BaseModel):
    payment_id: str = Field(min_length=1)
    reason: str | None = None


class WebhookBody(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    type: Literal["payment.succeeded", "payment.failed"]
    data: WebhookData


class WebhookAck(BaseModel):
    status: Literal["applied", "duplicate"]


@router.post(WEBHOOK_PATH, response_model=WebhookAck)
async def processor_webhook(request: Request, parts: Parts) -> WebhookAck:
    body = await request.body()
    settings = parts.settings
    signature = request.headers.get(webhook_signature.HEADER)
    if not webhook_signature.verify(
        settings.webhook_secret,
        signature,
        body,
        now=time.time(),
        tolerance=settings.webhook_tolerance_seconds,
    ):
        raise ApiError(400, "bad_signature", "missing, invalid or expired Processor-Signature")
    try:
        webhook = WebhookBody.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(400, "bad_webhook", "the webhook body is not a processor event") from exc
    report = ProcessorReport(webhook.id, webhook.type, webhook.data.payment_id, webhook.data.reason)
    applied = await apply_report(parts.runtime.writer, report)
    return WebhookAck(status="applied" if applied else "duplicate")
