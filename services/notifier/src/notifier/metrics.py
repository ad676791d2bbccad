"""Prometheus metrics of the email pipeline (the runtime's own cover the consumer and HTTP)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EMAILS_SENT = Counter("notifier_emails_sent_total", "Emails accepted by the SMTP server", ["type"])
EMAILS_FAILED = Counter(
    "notifier_emails_failed_total", "Send attempts that failed; the email is retried later", ["type"]
)
EMAILS_SKIPPED = Counter(
    "notifier_emails_skipped_total",
    "Emails recorded but not sent (no recipients, event too old)",
    ["type", "reason"],
)
EMAILS_PENDING = Gauge("notifier_emails_pending", "Emails in the outbox not yet sent")
