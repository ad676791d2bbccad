"""OpenTelemetry: provider set-up, and W3C trace context carried through the outbox and Kafka headers."""

from __future__ import annotations

import functools
import os
import re
from contextlib import AbstractContextManager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
TRACER_NAME = "paylinks"


def setup_tracing(service_name: str) -> TracerProvider | None:
    """Install a global provider that exports over OTLP/HTTP when an OTLP endpoint is configured.

    Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) spans are still
    created, so trace ids reach the logs and Kafka headers, but nothing is exported.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None  # already installed (tests install their own)
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    if _otlp_configured() and os.environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _otlp_configured() -> bool:
    return any(
        os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


@functools.cache
def tracer() -> trace.Tracer:
    """Made once: get_tracer builds a new tracer on every call, and the relay asks once per event."""
    return trace.get_tracer(TRACER_NAME)


def current_trace_headers() -> dict[str, str]:
    """The current span's `traceparent` (and `tracestate`), ready to store or send."""
    return trace_headers(trace.get_current_span().get_span_context())


def trace_headers(span_context: SpanContext) -> dict[str, str]:
    """A span's `traceparent` (and `tracestate`): what the W3C propagator's inject writes, formatted
    directly (the relay and every unit of work ask once per event)."""
    if not span_context.is_valid:
        return {}
    headers = {
        "traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{span_context.trace_flags:02x}"
    }
    if span_context.trace_state:
        headers["tracestate"] = span_context.trace_state.to_header()
    return headers


def context_from(traceparent: str | None, tracestate: str | None = None) -> Context:
    """A context whose (remote, non-recording) current span is the one the headers name; empty if none."""
    span_context = _remote_span_context(traceparent, tracestate)
    if span_context is None:
        return otel_context.Context()
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context), otel_context.Context())


def link_to(traceparent: str | None, tracestate: str | None = None) -> Link | None:
    """A link to the span a traceparent names."""
    span_context = _remote_span_context(traceparent, tracestate)
    return Link(span_context) if span_context is not None else None


# version 00 in lowercase hex: what our producers write; anything else goes through the propagator
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _remote_span_context(traceparent: str | None, tracestate: str | None) -> SpanContext | None:
    """The span context in the headers, None if missing or invalid. The common form (our own, without
    tracestate) is read directly: the propagator builds a whole Context each time (~13 us), and the relay,
    the consumers and their batch spans read one per event."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    if match is None or tracestate:
        carrier = {"traceparent": traceparent} if traceparent else {}
        if tracestate:
            carrier["tracestate"] = tracestate
        extracted = _propagator.extract(carrier, context=otel_context.Context())
        span_context = trace.get_current_span(extracted).get_span_context()
        return span_context if span_context.is_valid else None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not (trace_id and span_id):  # all-zero ids are invalid (W3C trace context)
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16)))


def current(span: trace.Span) -> AbstractContextManager[trace.Span]:
    """The span as the current one for a while (log lines take their ids from it), ended by its owner:
    its failures are recorded where it ends, not here."""
    return trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def within(traceparent: str | None, tracestate: str | None = None) -> AbstractContextManager[trace.Span]:
    """The span the headers name (remote, not recording) as the current one for a while: the lines logged
    about work caused elsewhere carry that trace. Without valid headers, no span."""
    return current(trace.get_current_span(context_from(traceparent, tracestate)))


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the current span, for log lines."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


__all__ = [
    "SpanKind",
    "context_from",
    "current",
    "current_ids",
    "current_trace_headers",
    "link_to",
    "setup_tracing",
    "trace_headers",
    "tracer",
    "within",
]
