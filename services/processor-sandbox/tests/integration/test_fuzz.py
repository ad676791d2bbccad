"""Every operation of the sandbox's OpenAPI document, fuzzed by schemathesis with the secret key (valid and
invalid requests): no 5xx, and every error under /v1 in the contract's shape."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from processor_sandbox.testing import Sandbox

# Per operation, as in tests/security/fuzzing.py: within `make test`'s budget; FUZZ_EXAMPLES goes deeper.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


def contract_error_shape(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code < 400 or not case.operation.path.startswith("/v1/"):
        return
    body = response.json()
    assert set(body) == {"error"}, f"not the error shape: {body}"
    assert set(body["error"]) == {"code", "message"}, f"not the error shape: {body}"


def operations() -> list[tuple[str, str]]:
    from processor_sandbox.app import create_app

    document = create_app().openapi()
    return [(method, path) for path, methods in document["paths"].items() for method in methods]


@pytest.mark.parametrize(("method", "path"), operations())
async def test_fuzzing_finds_no_server_error(sandbox: Sandbox, method: str, path: str) -> None:
    document = (await sandbox.http.get("/openapi.json")).json()
    failures = await asyncio.to_thread(_fuzz, document, method, path, sandbox)
    assert not failures, "\n\n".join(failures)


def _fuzz(document: dict[str, Any], method: str, path: str, sandbox: Sandbox) -> list[str]:
    operation = schemathesis.openapi.from_dict(document)[path][method]
    headers = dict(sandbox.secret)
    keys = itertools.count()
    failures: list[str] = []
    session = requests.Session()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    def run(case: Any) -> None:
        headers["Idempotency-Key"] = f"fuzz-{path}-{next(keys)}"  # a fresh key: each case reaches its handler
        response = case.call(base_url=sandbox.base_url, headers=headers, session=session, timeout=30)
        try:
            case.validate_response(
                response, checks=[not_a_server_error, contract_error_shape], headers=headers
            )
        except (AssertionError, FailureGroup) as failure:
            failures.append(f"{failure}\n{case.as_curl_command(headers=headers)}")

    try:
        run()
    finally:
        session.close()
    return failures[:3]
