"""reconciliation-service settings: the shared ones (CONTRACT.md section 3) with this service's defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from paylinks_runtime.settings import ServiceSettings

# migrations/*.sql of this service; the `*_read_model*.sql` ones are also what a rebuild replays into.
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Settings(ServiceSettings):
    service_name: str = "reconciliation-service"
    http_port: int = 8003
    db_schema: str = "reconciliation"
    # The projection writes a batch with one statement per table, so a larger batch costs less per event
    # (bench figure 1: 4,400 -> 5,600 events/s from 500 to 2,000); the rebuild's Replayer reads 2,000 too.
    consumer_batch_size: int = Field(default=2000, ge=1)
    # How long the staff page's cookie (made from the email's grant) lives; the grant's expiry applies too.
    page_cookie_max_age: int = Field(default=3600, ge=60)
    # A rebuild waits this long for the outbox to drain before switching (a stopped service never drains it).
    rebuild_outbox_drain_seconds: float = Field(default=10.0, ge=0)
    # The workspace's refund button asks link-service's API (with the staff member's own token).
    link_service_url: str = "http://127.0.0.1:8001"
