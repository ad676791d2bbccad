"""The committed AsyncAPI document (docs/asyncapi.json) is the one the models generate."""

from __future__ import annotations

import json

import pytest

from paylinks_events import EVENT_TYPES
from paylinks_events.asyncapi import document

pytestmark = pytest.mark.unit


def test_every_event_is_a_channel_on_its_topic_with_its_fields() -> None:
    spec = json.loads(document())
    channels = {c["address"]: set() for c in spec["channels"].values()}
    for key, channel in spec["channels"].items():
        channels[channel["address"]].add(key.rsplit(".", 1)[1])
    assert channels == {
        topic: {name for name, model in EVENT_TYPES.items() if model.topic == topic}
        for topic in {m.topic for m in EVENT_TYPES.values()}
    }
    payment = spec["components"]["schemas"]["PaymentReceived"]
    assert {"payment_id", "amount", "payer", "source"} <= set(payment["properties"])
