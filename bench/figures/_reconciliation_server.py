"""`python -m bench.figures._reconciliation_server TOPIC...`: reconciliation-service served as its console
script serves it (JSON logs, tracing, uvicorn; settings from the environment), with its read-model
consumer on the given private topics instead of the contract's. Figure 2 runs it as its own process."""

from __future__ import annotations

import sys

from paylinks_runtime.http import serve
from reconciliation_service.app import create_app
from reconciliation_service.config import Settings


def main(topics: list[str]) -> None:
    settings = Settings()
    serve(lambda: create_app(settings, topics), settings)


if __name__ == "__main__":
    main(sys.argv[1:])
