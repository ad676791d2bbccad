"""Prometheus metrics of the sandbox (the runtime's own cover HTTP): outcomes and webhook delivery."""

from __future__ import annotations

from prometheus_client import Counter

CHARGES = Counter(
    "processor_sandbox_charges_total",
    "Charges by method and outcome (taken, succeeded, failed)",
    ["method", "outcome"],
)
WEBHOOKS_DELIVERED = Counter(
    "processor_sandbox_webhooks_delivered_total", "Webhooks the receiver acknowledged (2xx)", ["type"]
)
WEBHOOK_FAILURES = Counter(
    "processor_sandbox_webhook_failures_total",
    "Delivery attempts that failed (retried, or dropped after repeated client errors)",
    ["type", "dropped"],
)
