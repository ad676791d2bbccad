"""Prometheus metrics an SRE watches: the pipeline (outbox, consumers, DLQ) and HTTP."""

from __future__ import annotations

import collections
from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_BACKLOG = Gauge("paylinks_outbox_backlog", "Outbox rows not yet published to Kafka", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "paylinks_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_PUBLISHED = Counter("paylinks_outbox_published_total", "Outbox rows published", ["service", "topic"])
OUTBOX_MEASURED_AT = Gauge(
    "paylinks_outbox_measured_timestamp_seconds",
    "When the outbox backlog was last read from Postgres (the gauges above are as of then, age excepted)",
    ["service"],
)
OUTBOX_PUBLISH_ERRORS = Counter(
    "paylinks_outbox_publish_errors_total",
    "Outbox batches Kafka did not acknowledge (error, or no answer within the publish timeout)",
    ["service", "error"],
)
OUTBOX_QUARANTINED = Counter(
    "paylinks_outbox_quarantined_total",
    "Outbox rows Kafka will never accept, moved to outbox_quarantine, by error",
    ["service", "error"],
)
OUTBOX_QUARANTINE_ROWS = Gauge(
    "paylinks_outbox_quarantine_rows", "Rows in outbox_quarantine, waiting for an operator", ["service"]
)
OUTBOX_COMMIT_TO_ACK = Histogram(
    "paylinks_outbox_publish_latency_seconds",
    "From the outbox row's commit to Kafka's acknowledgement",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RELAY_LEADER = Gauge(
    "paylinks_outbox_relay_leader", "1 while this process holds its schema's outbox relay lease", ["service"]
)
CONSUMER_LAG = Gauge(
    "paylinks_consumer_lag", "Records behind the partition's end", ["consumer", "topic", "partition"]
)
CONSUMER_PROGRESS_AT = Gauge(
    "paylinks_consumer_progress_timestamp_seconds",
    "When the consumer was last seen at the end of its partitions or moving forward (measured on its lag"
    " timer): it stops while the consumer is behind and stuck",
    ["consumer"],
)
CONSUMER_CLIENT_RESTARTS = Counter(
    "paylinks_consumer_client_restarts_total",
    "Kafka clients a consumer replaced because they received nothing while its partitions stood still"
    " behind (a client that never rejoined its group after a coordinator failure)",
    ["consumer"],
)
CONSUMER_BATCH_RETRIES = Counter(
    "paylinks_consumer_batch_retries_total",
    "Batches a consumer must try again (database unavailable, a conflict), by error",
    ["consumer", "error"],
)
EVENTS_APPLIED = Counter(
    "paylinks_events_applied_total", "Events applied by a consumer", ["consumer", "type"]
)
EVENTS_DUPLICATE = Counter(
    "paylinks_events_duplicate_total", "Redelivered events recognised by the inbox and skipped", ["consumer"]
)
INBOX_PRUNED = Counter(
    "paylinks_inbox_pruned_total", "Inbox rows deleted after the retention (inbox_retention)", ["service"]
)
PROJECTION_LAG = Gauge(
    "paylinks_projection_lag_seconds",
    "Age of the newest event applied, when it was applied: as of the last batch (a stuck consumer leaves it"
    " as it was; paylinks_consumer_progress_timestamp_seconds says since when)",
    ["consumer"],
)
EVENT_VISIBILITY = Histogram(
    "paylinks_event_visibility_seconds",
    "From an event's time (when the producing service decided it) to its consumer committing its effect:"
    " for the reconciliation projection, how long until staff see it (the SLO's indicator)",
    ["consumer", "type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
DLQ_RECORDS = Counter(
    "paylinks_dlq_records_total", "Records sent to a dead-letter topic", ["consumer", "topic"]
)
HTTP_REQUESTS = Counter(
    "paylinks_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "paylinks_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
SECURITY_REFUSALS = Counter(
    "paylinks_security_refusals_total",
    "Refused attempts (bad or missing credentials, missing role, oversized body, rate limit, bad webhook "
    "signature, declined payment, any other refused payment attempt), by reason: security_log.refused",
    ["reason"],
)


def observe_all(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(amount)` for every amount (`histogram`: a series, its labels given), each bucket and
    the sum incremented once for all of them. prometheus_client observes one value at a time (a lock taken
    per increment, ~1.5 us a value), and a consumer observes every event of its batches. This relies on the
    client's histogram layout (sorted `_upper_bounds` ending in +Inf, one `_buckets` value each, a value
    counted in the first bucket whose bound it does not exceed, and `_sum`): test_metrics checks it against
    observe(), value by value."""
    bounds = histogram._upper_bounds
    for bucket, count in collections.Counter(bisect_left(bounds, amount) for amount in amounts).items():
        histogram._buckets[bucket].inc(count)
    histogram._sum.inc(sum(amounts))
