"""OPS_PORT: /metrics leaves the public port for a port of its own."""

from __future__ import annotations

import httpx
import pytest

from paylinks_runtime.errors import RefusalStatuses
from paylinks_runtime.http import create_service_app, start_ops_server
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.settings import ServiceSettings
from paylinks_runtime.testing import free_socket

pytestmark = pytest.mark.unit


def routes(settings: ServiceSettings) -> set[str]:
    app = create_service_app(ServiceRuntime(settings), title="t", refusals=RefusalStatuses())
    return {getattr(route, "path", "") for route in app.routes}


def test_metrics_are_on_the_public_port_unless_an_ops_port_is_set() -> None:
    assert "/metrics" in routes(ServiceSettings())
    with_ops_port = routes(ServiceSettings(ops_port=9999))
    assert "/metrics" not in with_ops_port
    assert "/healthz" in with_ops_port


def test_the_ops_port_serves_the_metrics() -> None:
    probe = free_socket()
    port = probe.getsockname()[1]
    probe.close()
    server = start_ops_server(ServiceSettings(ops_port=port))
    assert server is not None
    try:
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200
        assert "paylinks_http_requests_total" in metrics.text
    finally:
        server.shutdown()
        server.server_close()
    assert start_ops_server(ServiceSettings()) is None
