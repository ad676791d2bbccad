"""Every operation of every service's OpenAPI document, fuzzed by schemathesis (valid and invalid requests,
many on real ids of a seeded firm, some with one value swapped for a hostile string): no 5xx, no stack trace
or internal name in a body, every JSON error in the contract's shape. Once with a staff+admin token of the
firm (the handlers are reached), once with none (every staff operation is 401 before it looks at anything).

Nothing is skipped: /v1/processor/webhooks is in the run too, though its document declares no body (it
reads the raw body to check the signature) so only the signature check is reached here; the signed bodies
are fuzzed in test_webhooks.py. NUL characters are left out while they are a known 500 everywhere
(hostile.FUZZ_WITH_NUL, pinned by test_nul_characters.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from paylinks_runtime.testing import auth_header

from .firm import Firm
from .fuzzing import FuzzReport, fuzz
from .hostile import HYPOTHESIS_IN_A_BUSY_PROCESS
from .system import APP_FACTORIES, System, client_address

pytestmark = HYPOTHESIS_IN_A_BUSY_PROCESS
DOCUMENTS: dict[str, dict[str, Any]] = {name: factory().openapi() for name, factory in APP_FACTORIES.items()}
# Open to anyone (the pay endpoints hold a capability in the path; the webhook a signature): fuzzed once,
# without a token. Staff operations: with the firm's staff+admin token, and without any.
PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/pay/{token}", "/v1/pay/{token}/payments"}
PUBLIC_PATHS |= {"/v1/processor/webhooks"}
OPERATIONS = [
    pytest.param(service, method, path, with_token, id=f"{service} {method.upper()} {path} {who}")
    for service, document in DOCUMENTS.items()
    for path, methods in document["paths"].items()
    for method in methods
    for with_token, who in ((True, "staff+admin token"), (False, "no token"))
    if not (with_token and path in PUBLIC_PATHS)
]

UNPARSEABLE_BODY = re.compile(r"^(\d+: )?JSON decode error$|^There was an error parsing the body$")


@pytest.fixture(scope="module")
async def seeded(system: System, producer: AIOKafkaProducer) -> AsyncIterator[tuple[Firm, dict[str, str]]]:
    """A firm with an account, its link, a bill and a processed payment: real ids the fuzzer may hit."""
    firm = Firm(system, producer)
    history = await firm.with_history()
    yield firm, history.ids
    await firm.close()


def needs_staff(path: str) -> bool:
    return path not in PUBLIC_PATHS


def refused_without_token(case: Any, response: Any) -> None:
    """No token: a staff operation answers 401 whatever else is wrong with the request; except that FastAPI
    decodes a JSON body before any dependency runs, so a body that is not JSON at all is refused first,
    and a NUL character anywhere is refused at the edge (400/422, saying only that: nothing about the
    firm's data)."""
    if not needs_staff(case.operation.path) or response.status_code == 401:
        return
    body = response.json()["error"] if response.status_code in (400, 422) else {}
    if body.get("code") == "invalid_character":
        return
    assert UNPARSEABLE_BODY.search(body.get("message", "")), (
        f"a staff operation without a token answered {response.status_code}"
    )


@pytest.mark.parametrize(("service", "method", "path", "with_token"), OPERATIONS)
async def test_fuzzing_finds_no_server_error_no_internals_and_only_contract_errors(
    system: System,
    seeded: tuple[Firm, dict[str, str]],
    service: str,
    method: str,
    path: str,
    with_token: bool,
) -> None:
    # Protection: input validation before any I/O, the runtime's error handlers (contract shape, no
    # traceback), auth dependencies on every staff route.
    firm, known = seeded
    headers = auth_header(firm.id, roles=("staff", "admin")) if with_token else {}
    report: FuzzReport = await asyncio.to_thread(
        fuzz,
        DOCUMENTS[service],
        method,
        path,
        base_url=system.services[service].url,
        headers=headers,
        known=known,
        client_address=client_address(),
        extra_check=None if with_token else refused_without_token,
    )
    assert report.sent > 0
    assert not report.failures, "\n\n".join(report.failures.values())
