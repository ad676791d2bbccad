"""Writes each service's OpenAPI document (what it serves at /openapi.json) into a folder: `make docs`."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from fastapi import FastAPI

PACKAGES = {
    "link-service": "link_service",
    "billing-service": "billing_service",
    "reconciliation-service": "reconciliation_service",
    "notifier": "notifier",
    "processor-sandbox": "processor_sandbox",
}


def openapi_of(package: str) -> dict[str, object]:
    """Build the app (without starting it) and ask it for its document."""
    app: FastAPI = importlib.import_module(f"{package}.app").create_app()
    return app.openapi()


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for service, package in PACKAGES.items():
        (out / f"{service}.json").write_text(json.dumps(openapi_of(package), indent=2, sort_keys=True) + "\n")
        print(f"wrote {out / service}.json")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi")
