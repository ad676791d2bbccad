"""A deployment on the source code's secrets (CONTRACT.md 4): with PAYLINKS_ENV=production every service
refuses to start, and says which settings to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .system import APP_FACTORIES

STRONG = "a-production-secret-of-more-than-32-bytes"


@pytest.mark.parametrize("service", list(APP_FACTORIES))
def test_a_service_does_not_start_in_production_on_a_default_secret(service: str) -> None:
    # Protection: paylinks_runtime.settings.ServiceSettings refuses weak secrets in production.
    environment = os.environ | {
        "PAYLINKS_ENV": "production",
        "AUTH_JWT_SECRET": "short",
        "PAYMENT_GRANT_SECRET": STRONG + "-grant",
        "WEBHOOK_SECRET": STRONG + "-webhook",
        "LINK_TOKEN_SECRET": STRONG + "-link",
        "HTTP_PORT": "1",  # it must never get as far as serving
    }
    console_script = Path(sys.executable).parent / service
    started = subprocess.run(
        [str(console_script)], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert started.returncode != 0
    named = started.stderr.split("shorter than 32 bytes: ", 1)[1].split(";")[0].split(", ")
    assert "AUTH_JWT_SECRET" in named, started.stderr[-2000:]
    assert not {"PAYMENT_GRANT_SECRET", "WEBHOOK_SECRET", "LINK_TOKEN_SECRET"} & set(named), named
    assert STRONG not in started.stderr  # names the settings, never the values
