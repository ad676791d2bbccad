"""Production refuses to start on development secrets; development keeps working on them."""

from __future__ import annotations

import pytest

from paylinks_runtime.settings import InsecureSettings, ServiceSettings

pytestmark = pytest.mark.unit
STRONG = "k" * 32


class LinkLikeSettings(ServiceSettings):
    """A service's own secrets are found by their names, like link-service's."""

    webhook_secret: str = "dev-only-webhook-secret-change-me-0123456789"
    processor_api_key: str = "sk_test_sandbox_default_key_0123456789abcdef"


def _strong_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYLINKS_ENV", "production")
    for name in ("AUTH_JWT_SECRET", "PAYMENT_GRANT_SECRET", "WEBHOOK_SECRET", "PROCESSOR_API_KEY"):
        monkeypatch.setenv(name, name.lower() + "-" + STRONG)


def test_development_runs_on_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYLINKS_ENV", raising=False)
    assert LinkLikeSettings().auth_jwt_secret.startswith("dev-only-")


def test_production_refuses_every_default_and_names_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYLINKS_ENV", "production")
    with pytest.raises(InsecureSettings) as refused:
        LinkLikeSettings()
    for name in ("AUTH_JWT_SECRET", "PAYMENT_GRANT_SECRET", "WEBHOOK_SECRET", "PROCESSOR_API_KEY"):
        assert name in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_JWT_SECRET", "k" * 31),  # too short
        ("AUTH_JWT_SECRET", "dev-only-jwt-secret-but-long-enough-0123456789"),
        ("WEBHOOK_SECRET", "dev-only-webhook-secret-change-me-0123456789"),  # the default, set explicitly
        ("PROCESSOR_API_KEY", "sk_test_sandbox_default_key_0123456789abcdef"),  # default without the prefix
        ("AUTH_JWT_SECRET_PREVIOUS", f"{STRONG}x,short"),  # a weak key being rotated out
    ],
)
def test_production_names_the_one_weak_secret(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    _strong_environment(monkeypatch)
    monkeypatch.setenv(name, value)
    with pytest.raises(InsecureSettings) as refused:
        LinkLikeSettings()
    weak = str(refused.value).split("bytes: ", 1)[1]
    assert weak.startswith(name + ";"), weak


def test_production_starts_with_strong_secrets_and_rotates(monkeypatch: pytest.MonkeyPatch) -> None:
    _strong_environment(monkeypatch)
    monkeypatch.setenv("AUTH_JWT_SECRET_PREVIOUS", f"old-one-{STRONG}, old-two-{STRONG}")
    settings = LinkLikeSettings()
    keys = settings.staff_keys()
    assert keys.signing == "auth_jwt_secret-" + STRONG
    assert keys.previous == (f"old-one-{STRONG}", f"old-two-{STRONG}")
    assert settings.grant_keys().signing != keys.signing
