"""The sandbox over real HTTP (uvicorn on a free port) and real Postgres, delivering its webhooks to a real
receiver that checks every signature. One sandbox and schema per test module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from paylinks_runtime.testing import drop_schema
from processor_sandbox.testing import Sandbox, WebhookRecorder, running_sandbox, sandbox_settings


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[WebhookRecorder]:
    async with WebhookRecorder.serving() as recorder:
        yield recorder


@pytest.fixture(scope="module")
async def sandbox(receiver: WebhookRecorder) -> AsyncIterator[Sandbox]:
    settings = sandbox_settings(receiver.url)
    async with running_sandbox(receiver.url, settings) as sandbox:
        yield sandbox
    await drop_schema(settings.db_schema)


@pytest.fixture
def firm_id() -> str:
    return f"firm-{uuid.uuid4().hex[:8]}"
