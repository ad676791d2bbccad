"""The framework alone, for figure 6's baseline: FastAPI on uvicorn (as the services run it), no middleware
of ours, /healthz and /readyz answering a constant. `python -m bench.figures.bare_app` (port: HTTP_PORT)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


if __name__ == "__main__":
    port = int(os.environ["HTTP_PORT"])
    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)
