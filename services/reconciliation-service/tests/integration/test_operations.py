"""The endpoints every service serves (CONTRACT.md section 2), with this service's API in the document."""

from __future__ import annotations


async def test_health_readiness_metrics_and_openapi(client) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": True, "kafka": True}
    metrics = (await client.get("/metrics")).text
    assert (
        'paylinks_http_requests_total{method="GET",route="/readyz",service="reconciliation-service"'
        in metrics
    )
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/unlinked-payments",
        "/v1/unlinked-payments/totals",
        "/v1/payments/{payment_id}",
        "/v1/payments/{payment_id}/link",
        "/v1/payments/{payment_id}/history",
        "/payments/{payment_id}/link",
    ):
        assert path in paths, path
    assert {"post", "delete"} <= set(paths["/v1/payments/{payment_id}/link"])
