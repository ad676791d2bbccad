"""Configuration from the environment (CONTRACT.md section 4). Every setting has a working local default.

Secrets are the settings whose name ends in `_secret` or `_api_key` (in every service's subclass too, and
their comma-separated `*_previous` companions). With `PAYLINKS_ENV=production` a service refuses to start
while any of them is still a development default or shorter than 32 bytes: a default is public (it is in
this source), so a deployment that kept one lets anyone forge staff tokens or rebuild pay links.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .auth import JwtKeys

# The payment processor's local keys: the sandbox processor's defaults, and what link-service's processor
# adapter uses by default to talk to it. Dev only: a production deployment sets real ones.
DEV_PROCESSOR_API_KEY = "sk_test_dev-only-processor-api-key-change-me"
DEV_PROCESSOR_PUBLISHABLE_KEY = "pk_test_dev-only-processor-publishable-key"
# Shared by the processor (signs its webhooks) and link-service (verifies them).
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret-change-me-0123456789"  # noqa: S105 - local default

SECRET_SUFFIXES = ("_secret", "_api_key")
PREVIOUS_SUFFIX = "_previous"  # keys still accepted for verification while the current one signs
DEVELOPMENT_PREFIX = "dev-only-"  # every development default starts so
MIN_SECRET_BYTES = 32


class InsecureSettings(Exception):
    """A production deployment configured with secrets anyone can know."""


class ServiceSettings(BaseSettings):
    """Settings every service shares; a service subclasses it to add its own and set its defaults."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    paylinks_env: Literal["development", "production"] = "development"
    service_name: str = "paylinks"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    database_url: str = "postgresql://postgres@127.0.0.1:5432/paylinks"
    db_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]*$")
    db_pool_max_size: int = Field(default=10, ge=2)
    # Signs staff JWTs; `_previous` (comma-separated) are still accepted while tokens they signed expire.
    auth_jwt_secret: str = "dev-only-jwt-secret-change-me-0123456789"  # noqa: S105 - local default only
    auth_jwt_secret_previous: str = ""
    # A staff token whose exp is further than this from its iat (or from now, without iat) is refused.
    jwt_max_lifetime_hours: float = Field(default=12.0, gt=0)
    # Signs the one-payment grants in staff emails: a key of their own, so a grant can never pass for a
    # staff token nor the other way round, and the two can be rotated apart.
    payment_grant_secret: str = "dev-only-payment-grant-secret-change-me-0123456789"  # noqa: S105
    payment_grant_secret_previous: str = ""
    payment_grant_ttl_hours: float = Field(default=72.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # When set, /metrics is served on this port only (not on HTTP_PORT): the public port has no ops endpoint.
    ops_port: int | None = None
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses or CIDRs, "*" for any);
    # by default none: the client is the socket's peer.
    forwarded_allow_ips: str = ""
    # Paths the public reaches (a service sets its own): a caller's traceparent there starts a new trace,
    # linked to the caller's instead of continuing it (server_spans.ServerSpans).
    public_path_prefixes: tuple[str, ...] = ()
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

    def model_post_init(self, context: Any, /) -> None:
        """Not a validator: pydantic's validation errors print the input, secrets included."""
        if self.paylinks_env == "production":
            weak = weak_secrets(self)
            if weak:
                raise InsecureSettings(
                    f"PAYLINKS_ENV=production and these secrets are development defaults or shorter than "
                    f"{MIN_SECRET_BYTES} bytes: {', '.join(weak)}; set each to a random value of its own"
                )

    def staff_keys(self) -> JwtKeys:
        return JwtKeys(
            self.auth_jwt_secret,
            _key_list(self.auth_jwt_secret_previous),
            timedelta(hours=self.jwt_max_lifetime_hours),
        )

    def grant_keys(self) -> JwtKeys:
        return JwtKeys(
            self.payment_grant_secret,
            _key_list(self.payment_grant_secret_previous),
            timedelta(hours=self.payment_grant_ttl_hours),
        )


def is_secret(name: str) -> bool:
    return name.removesuffix(PREVIOUS_SUFFIX).endswith(SECRET_SUFFIXES)


def weak_secrets(settings: BaseSettings) -> list[str]:
    """The environment names of the secrets that a production deployment must not run with."""
    weak = []
    for name, field in type(settings).model_fields.items():
        if not is_secret(name):
            continue
        value = getattr(settings, name)
        if name.endswith(PREVIOUS_SUFFIX):  # none at all is fine: nothing being rotated out
            is_weak = any(_weak(key) for key in _key_list(value))
        else:
            is_weak = value == field.default or _weak(value)
        if is_weak:
            weak.append(name.upper())
    return weak


def _weak(key: str) -> bool:
    return key.startswith(DEVELOPMENT_PREFIX) or len(key.encode()) < MIN_SECRET_BYTES


def _key_list(value: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in value.split(",") if key.strip())
