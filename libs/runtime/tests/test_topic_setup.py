"""Topic set-up at a service's start while the cluster cannot answer every request: the admin client sends
to a random known broker and fails at once on a dead one (NodeNotReadyError). The full chaos run met it
whenever a service restarted while two of three brokers were down: the service exited at start-up
(uvicorn's exit code 3). The set-up tries again until the cluster answers; a refusal that no retry
changes still fails at once."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import NodeNotReadyError, PolicyViolationError
from structlog.testing import capture_logs

from paylinks_runtime import kafka
from paylinks_runtime.kafka import ensure_topics
from paylinks_runtime.testing import BOOTSTRAP, unique


def _failing_first(monkeypatch: pytest.MonkeyPatch, error: Exception, times: int) -> list[Exception]:
    """AIOKafkaAdminClient.list_topics raises `error` on its first `times` calls, then asks the broker."""
    real = AIOKafkaAdminClient.list_topics
    raised: list[Exception] = []

    async def list_topics(self: AIOKafkaAdminClient, *args: Any, **kwargs: Any) -> list[str]:
        if len(raised) < times:
            raised.append(error)
            raise error
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaAdminClient, "list_topics", list_topics)
    return raised


async def test_a_broker_not_ready_at_start_up_is_waited_for_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raised = _failing_first(monkeypatch, NodeNotReadyError("node 3 is down"), times=2)
    topic = unique("test.setup").replace("_", "-")
    assert await ensure_topics(BOOTSTRAP, [topic], partitions=1) == [topic]
    assert len(raised) == 2


async def test_an_error_no_retry_changes_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    raised = _failing_first(monkeypatch, PolicyViolationError("refused"), times=5)
    with pytest.raises(PolicyViolationError):
        await ensure_topics(BOOTSTRAP, [unique("test.setup").replace("_", "-")], partitions=1)
    assert len(raised) == 1


def _unserved_first(monkeypatch: pytest.MonkeyPatch, answers: list[dict[str, Any]]) -> list[list[str]]:
    """AIOKafkaAdminClient.describe_topics gives `answers` (one topic's metadata each, as a broker that has
    not yet learnt of a new topic gives it) on its first calls, then asks the broker; returns the asked."""
    real = AIOKafkaAdminClient.describe_topics
    asked: list[list[str]] = []

    async def describe_topics(self: AIOKafkaAdminClient, topics: list[str] | None = None) -> list[Any]:
        asked.append(list(topics or []))
        if len(asked) <= len(answers):
            return [{**answers[len(asked) - 1], "topic": name} for name in topics or []]
        return await real(self, topics)

    monkeypatch.setattr(AIOKafkaAdminClient, "describe_topics", describe_topics)
    return asked


UNKNOWN = {"error_code": 3, "partitions": []}  # UNKNOWN_TOPIC_OR_PARTITION
NO_LEADER = {"error_code": 0, "partitions": [{"error_code": 5, "partition": 0, "leader": -1}]}


async def test_the_set_up_returns_once_the_broker_serves_the_created_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A producer's first send to a topic the broker does not serve yet logs an error (aiokafka's "not
    found in cluster metadata"), so the set-up waits until every created topic has a leader per partition."""
    asked = _unserved_first(monkeypatch, [UNKNOWN, NO_LEADER])
    topic = unique("test.setup").replace("_", "-")
    assert await ensure_topics(BOOTSTRAP, [topic], partitions=2) == [topic]
    assert asked == [[topic]] * 3


async def test_a_topic_never_served_only_warns_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "TOPIC_SERVED_TIMEOUT", 0.3)
    asked = _unserved_first(monkeypatch, [UNKNOWN] * 1000)
    topic = unique("test.setup").replace("_", "-")
    with capture_logs() as logs:
        assert await ensure_topics(BOOTSTRAP, [topic], partitions=1) == [topic]
    assert [e["topics"] for e in logs if e["event"] == "created topics not served yet"] == [[topic]]
    assert 3 < len(asked) < 1000
