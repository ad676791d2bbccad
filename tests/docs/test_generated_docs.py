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


def test_the_asyncapi_document_matches_the_event_contract() -> None:
    # compared as data: FastStream does not promise an order of channels in its JSON
    committed = json.loads((DOCS / "asyncapi.json").read_text())
    assert committed == json.loads(contract_document()), f"docs/asyncapi.json {STALE}"


def test_every_service_has_a_committed_openapi_document() -> None:
    committed = {path.stem for path in (DOCS / "openapi").glob("*.json")}
    assert committed == set(PACKAGES)
