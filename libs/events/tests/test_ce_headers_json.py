"""The outbox stores a record's headers as JSON (`ce_headers_json`): the same pairs as `ce_headers`."""

from __future__ import annotations

import json

import pytest

from paylinks_events import Envelope, MatterOpened, ce_headers, ce_headers_json

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("firm", "traceparent", "tracestate"),
    [
        ("firm-1", None, None),
        ('firm-ü "quoted" \\ \u2028', "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None),
        ("firm-\n\t\x01\x7f😀", None, None),  # control characters and a character outside the BMP
        ("firm-2", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=a,other=b"),
    ],
)
def test_headers_json_holds_exactly_the_record_headers(
    firm: str, traceparent: str | None, tracestate: str | None
) -> None:
    envelope = Envelope(
        MatterOpened(firm_id=firm, matter_id="m-1", contact_id="c", name="n"),
        source="/t",
        traceparent=traceparent,
        tracestate=tracestate,
    )
    stored = json.loads(ce_headers_json(envelope))
    assert [(k, v.encode()) for k, v in stored] == ce_headers(envelope)
