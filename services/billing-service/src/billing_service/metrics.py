"""Prometheus metrics of billing-service, next to the runtime's pipeline metrics on GET /metrics."""

from __future__ import annotations

from prometheus_client import Counter

BILL_WRITE_CONFLICTS = Counter(
    "billing_bill_write_conflicts_total",
    "Bill appends that lost an optimistic-concurrency race and were decided again",
)
