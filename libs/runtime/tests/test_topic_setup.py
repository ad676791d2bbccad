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
