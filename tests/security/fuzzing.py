"""Schemathesis against one API operation of a running service: generated requests (valid and invalid),
each answer checked for a 5xx, a stack trace or an error body off the contract. Failures are collected,
not raised, so one run reports every distinct failure of the operation (and nothing is shrunk: the run
stays within its time budget; each failure comes with its curl command)."""

from __future__ import annotations

import copy as copy_module
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from .hostile import FUZZ_DICTIONARY, leaked_internals

# Per operation and auth mode. The default keeps the folder within `make test`'s budget (about 0.7 s per
# case, 75 of them); `make chaos` fuzzes deeper (FUZZ_EXAMPLES=100), FUZZ_EXAMPLES=500 deeper still.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@dataclass
class FuzzReport:
    operation: str
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # first line -> full report with curl

    def add(self, status: int) -> None:
        self.sent += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


class SourceAddressAdapter(HTTPAdapter):
    """Sends from a given loopback address: the pay endpoints rate-limit per client address."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def no_stack_trace(ctx: Any, response: Any, case: Any) -> None:
    media_type = response.headers.get("content-type", [""])[0]
    if media_type.startswith(("image/png", "application/pdf")):
        return
    if case.operation.path == "/metrics":  # the ops endpoint: error classes are its label values by design
        return
    leaked = leaked_internals(response.content.decode("utf-8", "replace"))
    assert not leaked, f"the response shows internals: {leaked}"


def contract_error_shape(ctx: Any, response: Any, case: Any) -> None:
    """JSON APIs (under /v1) answer every error as exactly {"error": {"code": str, "message": str}}."""
    if response.status_code < 400 or not case.operation.path.startswith("/v1/"):
        return
    body = response.json()
    assert set(body) == {"error"}, f"not the error shape: {body}"
    assert set(body["error"]) == {"code", "message"}, f"not the error shape: {body}"
    assert all(isinstance(v, str) and v for v in body["error"].values()), f"not the error shape: {body}"


CHECKS = [not_a_server_error, no_stack_trace, contract_error_shape]


def strategy(operation: Any, known: dict[str, str]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests, some on real ids of the seeded firm (so handlers are reached), and
    valid requests on real ids with one parameter or body string swapped for a hostile string."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    names = [p.name for p in operation.path_parameters]
    real = {name: known[name] for name in names if name in known}
    if real:
        strategies += [operation.as_strategy(generation_mode=mode, path_parameters=real) for mode in modes]
    strategies.append(operation.as_strategy(path_parameters=real).flatmap(_with_one_hostile_string))
    return st.one_of(strategies)


def _with_one_hostile_string(case: Any) -> st.SearchStrategy[Any]:
    slots = [("path", (name,)) for name in case.path_parameters or {}]
    slots += [("query", (p.name,)) for p in case.operation.query]
    slots += [("body", leaf) for leaf in _string_leaves(case.body)]
    if not slots:
        return st.just(case)
    return (
        st.tuples(st.sampled_from(slots), st.sampled_from(FUZZ_DICTIONARY))
        .filter(_routable)
        .map(lambda choice: _put(case, choice[0][0], choice[0][1], choice[1]))
    )


def _routable(choice: tuple[tuple[str, tuple[Any, ...]], str]) -> bool:
    """A "/" in a path parameter makes another path (the router's 404): it never reaches a handler."""
    (where, _), value = choice
    return not (where == "path" and "/" in value)


def _put(case: Any, where: str, path: tuple[Any, ...], value: str) -> Any:
    if where == "path":
        case.path_parameters = {**case.path_parameters, path[0]: value}
    elif where == "query":
        case.query = {**(case.query or {}), path[0]: value}
    else:
        case.body = _replaced(case.body, path, value)
    return case


def _string_leaves(body: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(body, str):
        return [at]
    if isinstance(body, dict):
        return [leaf for key, value in body.items() for leaf in _string_leaves(value, (*at, key))]
    if isinstance(body, list):
        return [leaf for i, value in enumerate(body) for leaf in _string_leaves(value, (*at, i))]
    return []


def _replaced(body: Any, path: tuple[Any, ...], value: str) -> Any:
    if not path:
        return value
    copy = copy_module.copy(body)
    copy[path[0]] = _replaced(body[path[0]], path[1:], value)
    return copy


def fuzz(
    document: dict[str, Any],
    method: str,
    path: str,
    *,
    base_url: str,
    headers: dict[str, str],
    known: dict[str, str],
    client_address: str,
    extra_check: Callable[[Any, Any], None] | None = None,
) -> FuzzReport:
    """Blocking: run it in a worker thread while the services keep the event loop."""
    operation = schemathesis.openapi.from_dict(document)[path][method]
    report = FuzzReport(f"{method.upper()} {path}")
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(client_address))

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy(operation, known))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=30)
        report.add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
            if extra_check is not None:
                extra_check(case, response)
        except (AssertionError, FailureGroup) as failure:
            first = _first_line(str(failure))
            report.failures.setdefault(first, f"{failure}\n{case.as_curl_command(headers=headers)}")

    try:
        run()
    finally:
        session.close()
    return report


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("-")]
    return re.sub(r"\s+", " ", " / ".join(lines[:2]))[:200]
