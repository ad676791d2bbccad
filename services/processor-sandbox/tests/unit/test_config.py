import pytest
from pydantic import ValidationError

from paylinks_runtime.settings import DEV_PROCESSOR_API_KEY, DEV_PROCESSOR_PUBLISHABLE_KEY, DEV_WEBHOOK_SECRET
from processor_sandbox.config import Settings

pytestmark = pytest.mark.unit


def test_the_sandbox_refuses_to_start_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYLINKS_ENV", "production")
    for secret in ("AUTH_JWT_SECRET", "PAYMENT_GRANT_SECRET", "PROCESSOR_API_KEY", "WEBHOOK_SECRET"):
        monkeypatch.setenv(secret, f"{secret.lower()}-a-strong-production-value-of-its-own")  # not the reason
    with pytest.raises(ValidationError, match="never runs in production"):
        Settings()


def test_the_environment_names_of_contract_section_3(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HTTP_PORT": "9005",
        "PROCESSOR_API_KEY": "sk_x",
        "PROCESSOR_PUBLISHABLE_KEY": "pk_x",
        "WEBHOOK_SECRET": "whsec",
        "PROCESSOR_WEBHOOK_URL": "http://link:8001/v1/processor/webhooks",
        "SANDBOX_CARD_SETTLE_SECONDS": "1",
        "SANDBOX_ECHECK_SETTLE_SECONDS": "2",
        "SANDBOX_DISPUTE_SECONDS": "3",
        "SANDBOX_RETURN_SECONDS": "4",
        "SANDBOX_PAYOUT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert (s.http_port, s.processor_api_key, s.processor_publishable_key, s.webhook_secret) == (
        9005,
        "sk_x",
        "pk_x",
        "whsec",
    )
    assert s.processor_webhook_url == "http://link:8001/v1/processor/webhooks"
    timings = (s.sandbox_card_settle_seconds, s.sandbox_echeck_settle_seconds, s.sandbox_dispute_seconds)
    assert (*timings, s.sandbox_return_seconds, s.sandbox_payout_seconds) == (1, 2, 3, 4, 5)


def test_the_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    s = Settings()
    assert (s.http_port, s.db_schema) == (8005, "processor_sandbox")
    assert (s.processor_api_key, s.processor_publishable_key) == (
        DEV_PROCESSOR_API_KEY,
        DEV_PROCESSOR_PUBLISHABLE_KEY,
    )
    assert s.webhook_secret == DEV_WEBHOOK_SECRET
    assert s.processor_webhook_url == "http://127.0.0.1:8001/v1/processor/webhooks"
    timings = (s.sandbox_card_settle_seconds, s.sandbox_echeck_settle_seconds, s.sandbox_dispute_seconds)
    assert (*timings, s.sandbox_return_seconds, s.sandbox_payout_seconds) == (2, 5, 3, 5, 30)
