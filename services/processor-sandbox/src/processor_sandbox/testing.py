"""Running the sandbox processor from other suites' tests, and a webhook receiver that checks signatures.

In process (fast; shares the test's event loop)::

    async with WebhookRecorder.serving() as receiver, running_sandbox(receiver.url) as sandbox:
        token = await sandbox.tokenize_card()
        ...

As a real process (its own logs; can be killed and restarted on the same schema)::

    with SandboxProcess(sandbox_settings(webhook_url)) as process:
        ...  # process.base_url; process.kill(); process.start(); process.logs()

Both use a fresh schema with fast timings (`sandbox_settings`); drop it with
`paylinks_runtime.testing.drop_schema(settings.db_schema)` when done.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from paylinks_runtime import webhook_signature
from paylinks_runtime.testing import DATABASE_URL, eventually, free_socket, serving, unique

from .app import create_app
from .config import Settings

TEST_ROUTING_NUMBER = "110000000"  # passes the ABA checksum
FAST_TIMINGS = {
    "sandbox_card_settle_seconds": 0.3,
    "sandbox_echeck_settle_seconds": 0.5,
    "sandbox_dispute_seconds": 0.5,
    "sandbox_return_seconds": 0.5,
    "sandbox_payout_seconds": 3600.0,  # tests pay out on demand (POST /v1/sandbox/payouts)
    "sandbox_poll_seconds": 0.05,
    "sandbox_webhook_retry_base_seconds": 0.1,
    "sandbox_webhook_retry_max_seconds": 1.0,
}


def sandbox_settings(webhook_url: str, **overrides: Any) -> Settings:
    """A fresh schema, fast timings, webhooks to `webhook_url`; `overrides` win."""
    values: dict[str, Any] = {
        "db_schema": unique("t_sandbox"),
        "database_url": DATABASE_URL,
        "processor_webhook_url": webhook_url,
        **FAST_TIMINGS,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Sandbox:
    """A running sandbox and the calls a test makes to it."""

    base_url: str
    settings: Settings
    http: httpx.AsyncClient
    log_path: Path | None = None  # a process's log file (SandboxProcess); None when it runs in this process

    @property
    def secret(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.processor_api_key}"}

    @property
    def publishable(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.processor_publishable_key}"}

    async def tokenize_card(
        self, number: str = "4242424242424242", *, exp_month: int = 12, exp_year: int = 2099, cvc: str = "123"
    ) -> str:
        card = {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}
        return await self._tokenize({"type": "card", "card": card})

    async def tokenize_bank(self, account_number: str = "000123456789", holder: str = "Dana Client") -> str:
        bank = {
            "routing_number": TEST_ROUTING_NUMBER,
            "account_number": account_number,
            "account_holder_name": holder,
        }
        return await self._tokenize({"type": "us_bank_account", "us_bank_account": bank})

    async def _tokenize(self, body: dict[str, Any]) -> str:
        response = await self.http.post("/v1/payment_methods", json=body, headers=self.publishable)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def charge(self, payment_method: str, **fields: Any) -> httpx.Response:
        """`POST /v1/payments` as link-service's adapter makes it; fields default to a fresh payment."""
        body: dict[str, Any] = {
            "payment_id": str(uuid.uuid4()),
            "payment_method": payment_method,
            "amount": 12500,
            "currency": "USD",
            "firm_id": "firm-test",
            "bank_account_id": "ba-trust",
            "fee_bank_account_id": "ba-operating",
            **fields,
        }
        key = f"payment:{body['payment_id']}"
        return await self.http.post(
            "/v1/payments", json=body, headers={**self.secret, "Idempotency-Key": key}
        )

    async def charges(self, payment_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            "/v1/sandbox/charges", params={"payment_id": payment_id}, headers=self.secret
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def pay_out(self, firm_id: str | None = None) -> list[dict[str, Any]]:
        response = await self.http.post("/v1/sandbox/payouts", json={"firm_id": firm_id}, headers=self.secret)
        assert response.status_code == 200, response.text
        return list(response.json()["payouts"])


@asynccontextmanager
async def running_sandbox(webhook_url: str, settings: Settings | None = None) -> AsyncIterator[Sandbox]:
    """The sandbox in this process, served by uvicorn on a free port."""
    settings = settings or sandbox_settings(webhook_url)
    async with (
        serving(create_app(settings), free_socket()) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        yield Sandbox(base_url, settings, http)


class SandboxProcess:
    """`paylinks-processor-sandbox` as a child process, configured through its environment; its JSON logs
    go to a file (`logs()`), as they would to a real collector."""

    def __init__(self, settings: Settings, log_path: Path | None = None) -> None:
        self.settings = settings
        sock = free_socket()  # a port nothing else holds; released just before the process binds it
        self.port = sock.getsockname()[1]
        sock.close()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or Path(f"/tmp/{settings.db_schema}.log")  # noqa: S108 - a test's log file
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, **settings_env(self.settings), "HTTP_PORT": str(self.port)}
        executable = Path(sys.executable).with_name("paylinks-processor-sandbox")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen([str(executable)], env=env, stdout=log, stderr=log)  # noqa: S603
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {self.log_path}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """SIGTERM: a graceful stop."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing cleaned up."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that configures a sandbox process like `settings`."""
    return {
        name.upper(): json.dumps(value) if isinstance(value, list | dict) else str(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None
    }


@dataclass
class Delivery:
    event: dict[str, Any]
    signature_valid: bool
    received_at: float
    traceparent: str | None = None


@dataclass
class WebhookRecorder:
    """A webhook receiver that checks each delivery's signature and records it. `down` answers 503 (and
    counts them in `refused`); `delay` (seconds, or seconds by event) makes answers slow, like a loaded
    receiver; `max_in_flight` is the most deliveries it was handling at once."""

    secret: str = field(default_factory=lambda: Settings().webhook_secret)
    deliveries: list[Delivery] = field(default_factory=list)
    down: bool = False
    delay: float | Callable[[dict[str, Any]], float] = 0.0
    refused: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks")
        async def receive(request: Request) -> Response:
            if self.down:
                self.refused += 1
                return Response(status_code=503)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                body = await request.body()
                await asyncio.sleep(self.delay(json.loads(body)) if callable(self.delay) else self.delay)
                return self._record(body, request.headers)
            finally:
                self.in_flight -= 1

        return app

    def _record(self, body: bytes, headers: Mapping[str, str]) -> Response:
        signature = headers.get(webhook_signature.HEADER)
        valid = webhook_signature.verify(self.secret, signature, body, now=time.time(), tolerance=300)
        delivery = Delivery(json.loads(body), valid, time.monotonic(), headers.get("traceparent"))
        self.deliveries.append(delivery)
        return Response(status_code=200 if valid else 400)

    @classmethod
    @asynccontextmanager
    async def serving(cls, **fields: Any) -> AsyncIterator[WebhookRecorder]:
        recorder = cls(**fields)
        async with serving(recorder.app(), free_socket()) as base_url:
            recorder.url = f"{base_url}/webhooks"
            yield recorder

    def events(self, type_: str | None = None, payment_id: str | None = None) -> list[dict[str, Any]]:
        return [
            d.event
            for d in self.deliveries
            if (type_ is None or d.event["type"] == type_)
            and (payment_id is None or d.event["data"].get("payment_id") == payment_id)
        ]

    def arrival(self, event_id: str) -> float:
        """When (time.monotonic) the event first arrived."""
        return min(d.received_at for d in self.deliveries if d.event["id"] == event_id)

    async def wait_for(
        self, type_: str, payment_id: str | None = None, count: int = 1, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        found: Callable[[], list[dict[str, Any]]] = lambda: self.events(type_, payment_id)  # noqa: E731
        await eventually(lambda: len(found()) >= count, timeout=timeout)
        return found()
