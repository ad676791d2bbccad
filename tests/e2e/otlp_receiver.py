"""A minimal OTLP/HTTP trace receiver: the services export their spans here, the tests read them."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int  # opentelemetry.proto Span.SpanKind: 2 server, 4 producer, 5 consumer
    trace_id: str
    span_id: str
    parent_span_id: str
    links: tuple[tuple[str, str], ...]  # (trace id, span id) of each linked span
    attributes: dict[str, str]


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def _ingest(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = [
            _span(_service_name(rs.resource.attributes), span)
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]
        with self._lock:
            self.spans.extend(spans)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._ingest(body)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: object) -> None:
                pass

        return Handler


def _service_name(attributes: object) -> str:
    for kv in attributes:  # type: ignore[attr-defined]
        if kv.key == "service.name":
            return str(kv.value.string_value)
    return "?"


def _span(service: str, span: object) -> ReceivedSpan:
    s = span  # an opentelemetry.proto Span
    return ReceivedSpan(
        service=service,
        name=s.name,  # type: ignore[attr-defined]
        kind=int(s.kind),  # type: ignore[attr-defined]
        trace_id=s.trace_id.hex(),  # type: ignore[attr-defined]
        span_id=s.span_id.hex(),  # type: ignore[attr-defined]
        parent_span_id=s.parent_span_id.hex(),  # type: ignore[attr-defined]
        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),  # type: ignore[attr-defined]
        attributes={kv.key: kv.value.string_value or str(kv.value.int_value) for kv in s.attributes},  # type: ignore[attr-defined]
    )
