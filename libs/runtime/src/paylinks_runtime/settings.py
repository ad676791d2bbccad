"""Configuration from the environment (CONTRACT.md section 3). Every setting has a working local default."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The payment processor's local keys: the sandbox processor's defaults, and what link-service's processor
# adapter uses by default to talk to it. Dev only: a production deployment sets real ones.
DEV_PROCESSOR_API_KEY = "sk_test_dev-only-processor-api-key-change-me"
DEV_PROCESSOR_PUBLISHABLE_KEY = "pk_test_dev-only-processor-publishable-key"
# Shared by the processor (signs its webhooks) and link-service (verifies them).
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret-change-me-0123456789"  # noqa: S105 - local default


class ServiceSettings(BaseSettings):
    """Settings every service shares; a service subclasses it to add its own and set its defaults."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = "paylinks"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    database_url: str = "postgresql://postgres@127.0.0.1:5432/paylinks"
    db_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]*$")
    db_pool_max_size: int = Field(default=10, ge=2)
    auth_jwt_secret: str = "dev-only-jwt-secret-change-me-0123456789"  # noqa: S105 - local default only
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    # Prepended to consumer group ids; lets tests and side-by-side replays run their own groups.
    consumer_group_prefix: str = ""
    # Where a consumer group with no committed offset starts: "earliest" (replay everything, the
    # production default: projections are built from the whole history) or "latest" (tests).
    consumer_start: Literal["earliest", "latest"] = "earliest"
    outbox_batch_size: int = Field(default=500, ge=1)
    consumer_batch_size: int = Field(default=500, ge=1)
    # How long a consumer remembers the ids it applied (redelivery comes minutes after, at most).
    inbox_retention_days: float = Field(default=30.0, gt=0)
    inbox_prune_interval_seconds: float = Field(default=3600.0, gt=0)
