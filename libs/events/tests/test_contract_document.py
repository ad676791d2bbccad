"""The repository carries the wire contract it implements: docs/CONTRACT.md is the shared one, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "CONTRACT.md"


def test_the_repository_has_the_contract() -> None:
    text = (REPO / "docs" / "CONTRACT.md").read_text()
    assert text.startswith("# Wire contract (v2)")


@pytest.mark.skipif(not SHARED.exists(), reason="no shared/ beside this clone (CI and developers have one)")
def test_the_repository_copy_of_the_contract_is_the_shared_one() -> None:
    assert (REPO / "docs" / "CONTRACT.md").read_bytes() == SHARED.read_bytes()
