"""The Prometheus config and rules as Prometheus itself reads them (Debian's promtool): the config loads,
every alert fires in its unit test for the outage it is for, and every alert has a runbook and a test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        if os.environ.get("CI"):  # make setup installs it (deploy/local/ensure-promtool.sh): never skip in CI
            raise AssertionError("promtool is missing: deploy/local/ensure-promtool.sh installs it")
        pytest.skip("promtool is missing (Debian package prometheus; deploy/local/ensure-promtool.sh)")
    command = [PROMTOOL, *args]
    return subprocess.run(command, cwd=DEPLOY, capture_output=True, text=True, timeout=120, check=False)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus-alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_config_and_its_rule_file() -> None:
    result = promtool("check", "config", "prometheus.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_in_its_outage_in_the_rule_unit_tests() -> None:
    result = promtool("test", "rules", "prometheus-alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.unit
def test_every_alert_has_a_runbook_and_a_firing_test() -> None:
    tests = yaml.safe_load((DEPLOY / "prometheus-alerts.test.yaml").read_text())["tests"]
    firing = {
        check["alertname"] for test in tests for check in test["alert_rule_test"] if check.get("exp_alerts")
    }
    for rule in rules():
        runbook = rule["annotations"].get("runbook_url", "")
        assert runbook == f"deploy/runbooks/{rule['alert']}.md", rule["alert"]
        assert (DEPLOY.parent / runbook).is_file(), f"{runbook} is missing"
        assert rule["alert"] in firing, f"no test shows {rule['alert']} firing"
