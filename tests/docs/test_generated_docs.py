"""The committed API documents are what the code generates: a change to a route, a response model or an event
model that forgets `make docs` fails here, not in a reader's client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paylinks_devstack.asyncapi import contract_document
from paylinks_devstack.openapi import PACKAGES, openapi_of

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"
STALE = "is stale: run `make docs` and commit the result"


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_each_openapi_document_matches_its_service(service: str) -> None:
    committed = json.loads((DOCS / "openapi" / f"{service}.json").read_text())
    assert committed == openapi_of(PACKAGES[service]), f"docs/openapi/{service}.json {STALE}"


# The sandbox processor stands in for another company's API: its keys are not staff tokens.
STAFF_SERVICES = sorted(set(PACKAGES) - {"processor-sandbox"})


@pytest.mark.parametrize("service", STAFF_SERVICES)
def test_staff_operations_declare_the_bearer_scheme(service: str) -> None:
    document = openapi_of(PACKAGES[service])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operations = {(path, method): op for path, ops in document["paths"].items() for method, op in ops.items()}
    secured = {key for key, op in operations.items() if op.get("security") == [{"bearer": []}]}
    assert secured, "every service has staff operations"
    # the public ones: probes, the pay API (a capability URL), the processor's signed webhook, the staff
    # page reached by an emailed grant
    public = {key for key in operations if key not in secured}
    assert all(
        path in {"/healthz", "/readyz", "/metrics", "/v1/processor/webhooks"}
        or path.startswith(("/v1/pay/", "/payments/"))
        for path, _ in public
    ), public


def test_the_sandbox_processor_declares_its_keys_as_a_bearer_scheme() -> None:
    document = openapi_of(PACKAGES["processor-sandbox"])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    unsecured = {
        (path, method)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if op.get("security") != [{"bearer": []}]
    }
    assert {path for path, _ in unsecured} <= {"/healthz", "/readyz", "/metrics"}, unsecured


def test_the_asyncapi_document_matches_the_event_contract() -> None:
    # compared as data: FastStream does not promise an order of channels in its JSON
    committed = json.loads((DOCS / "asyncapi.json").read_text())
    assert committed == json.loads(contract_document()), f"docs/asyncapi.json {STALE}"


def test_every_service_has_a_committed_openapi_document() -> None:
    committed = {path.stem for path in (DOCS / "openapi").glob("*.json")}
    assert committed == set(PACKAGES)
