"""link_to: the direct reading of a traceparent gives the same link as the W3C propagator."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from paylinks_runtime.tracing import context_from, link_to

pytestmark = pytest.mark.unit
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _by_propagator(traceparent: str) -> trace.SpanContext:
    return trace.get_current_span(context_from(traceparent)).get_span_context()


@pytest.mark.parametrize("traceparent", [PARENT, PARENT[:-2] + "00"])
def test_the_common_form_links_to_what_the_propagator_reads(traceparent: str) -> None:
    link = link_to(traceparent)
    expected = _by_propagator(traceparent)
    assert link is not None
    got = link.context
    assert (got.trace_id, got.span_id, got.trace_flags, got.is_remote) == (
        expected.trace_id,
        expected.span_id,
        expected.trace_flags,
        True,
    )


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        "",
        "garbage",
        "00-" + "0" * 32 + "-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01",
    ],
)
def test_no_link_for_a_missing_or_invalid_traceparent(traceparent: str | None) -> None:
    assert link_to(traceparent) is None


def test_with_a_tracestate_the_propagator_reads_it() -> None:
    link = link_to(PARENT, "vendor=value")
    assert link is not None and link.context.trace_state.get("vendor") == "value"
