"""The direct reading and writing of W3C trace context (link_to, context_from, current_trace_headers) gives
what the W3C propagator gives."""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from paylinks_runtime.tracing import context_from, current_trace_headers, link_to

pytestmark = pytest.mark.unit
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


PROPAGATOR = TraceContextTextMapPropagator()


def _by_propagator(traceparent: str, tracestate: str | None = None) -> trace.SpanContext:
    carrier = {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}
    return trace.get_current_span(PROPAGATOR.extract(carrier, otel_context.Context())).get_span_context()


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
    assert link is not None
    assert link.context.trace_state.get("vendor") == "value"


@pytest.mark.parametrize(("traceparent", "tracestate"), [(PARENT, None), (PARENT[:-2] + "00", "k=v")])
def test_context_from_names_the_span_the_propagator_reads(traceparent: str, tracestate: str | None) -> None:
    got = trace.get_current_span(context_from(traceparent, tracestate)).get_span_context()
    assert got == _by_propagator(traceparent, tracestate)
    assert got.is_remote
    assert not trace.get_current_span(context_from(traceparent)).is_recording()


@pytest.mark.parametrize("traceparent", [None, "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01"])
def test_context_from_without_a_valid_traceparent_has_no_span(traceparent: str | None) -> None:
    assert not trace.get_current_span(context_from(traceparent)).get_span_context().is_valid


@pytest.mark.parametrize(
    "span_context",
    [
        SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1)),
        SpanContext(1, 2, False, TraceFlags(0), TraceState([("vendor", "value"), ("other", "x")])),
    ],
)
def test_current_trace_headers_are_what_the_propagator_injects(span_context: SpanContext) -> None:
    expected: dict[str, str] = {}
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
    try:
        PROPAGATOR.inject(expected)
        assert current_trace_headers() == expected
    finally:
        otel_context.detach(token)


def test_no_trace_headers_outside_a_span() -> None:
    assert current_trace_headers() == {}
