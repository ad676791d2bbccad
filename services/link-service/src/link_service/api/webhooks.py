"""The payment processor's webhook: signature first (on the raw body), then the report, recorded once."""

from __future__ import annotations

import time

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError

from paylinks_runtime import webhook_signature
from paylinks_runtime.errors import ApiError
from paylinks_runtime.security_log import client_address, refused

from ..commands.processor_reports import Result, record_report
from ..config import WEBHOOK_PATH
from ..processor.webhook_events import Webhook, parse_data
from ..store.tables import PostgresReportLedger, report_writer
from .context import parts_of

router = APIRouter(tags=["processor"])
log = structlog.get_logger(__name__)


class WebhookAck(BaseModel):
    result: Result


@router.post(WEBHOOK_PATH, response_model=WebhookAck)
async def processor_webhook(request: Request) -> WebhookAck:
    """400 for a bad signature or body (nothing changes); 409 for a report that comes before what it follows
    (the processor delivers it again); else 200 with what it did."""
    parts = parts_of(request)  # not a dependency: see context._opened_link
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
        refused("bad_webhook_signature", route=WEBHOOK_PATH, client=client_address(request.scope))
        raise ApiError(400, "bad_signature", "missing, invalid or expired Processor-Signature")
    try:
        webhook = Webhook.model_validate_json(body)
        data = parse_data(webhook)
    except ValidationError as exc:
        log.warning("processor webhook refused", reason="bad_webhook")
        raise ApiError(400, "bad_webhook", "the webhook body is not a processor event") from exc
    writer = parts.runtime.writer
    return WebhookAck(
        result=await record_report(report_writer(writer), PostgresReportLedger(writer), webhook, data)
    )
