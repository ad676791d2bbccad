"""Running a money call and answering it: under its Idempotency-Key when there is one, then waking the
sandbox's loops for the timers and webhooks the call queued."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .. import idempotency
from ..runtime import SandboxRuntime


async def run_and_reply(
    request: Request, body: BaseModel, key: str | None, sandbox: SandboxRuntime, work: idempotency.Work
) -> JSONResponse:
    if key is None:
        async with sandbox.pool.acquire() as conn, conn.transaction():
            reply = await work(conn)
    else:
        fingerprint = idempotency.fingerprint(request.method, request.url.path, body.model_dump(mode="json"))
        ttl = sandbox.settings.idempotency_key_hours
        reply = await idempotency.run_once(sandbox.pool, key, fingerprint, ttl, work)
    sandbox.changed()
    return JSONResponse(reply.body, status_code=reply.status)
