"""`make up` and `make demo` tell staff where the workspace is and give a development sign-in link (the demo's
summary prints `workspace_addresses` for its own firm, so the sign-in form comes filled in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paylinks_devstack.stack import StackConfig
from paylinks_devstack.up import banner, workspace_addresses

pytestmark = pytest.mark.unit


def test_make_up_prints_the_workspace_and_the_development_sign_in(tmp_path: Path) -> None:
    config = StackConfig(home=tmp_path)
    workspace = config.url("reconciliation-service")
    shown = banner(config)
    assert f"staff workspace: {workspace}/payments\n" in shown
    assert f"development sign-in: {workspace}/dev/sign-in\n" in shown


def test_the_demos_sign_in_link_names_its_firm(tmp_path: Path) -> None:
    config = StackConfig(home=tmp_path)
    workspace = config.url("reconciliation-service")
    assert workspace_addresses(config, "firm 1/x") == [
        f"staff workspace: {workspace}/payments",
        f"development sign-in for this firm: {workspace}/dev/sign-in?firm_id=firm%201%2Fx",
    ]
