"""CloudEvents 1.0 in Kafka binary mode: value = the event data as JSON, attributes as `ce_*` headers."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from pydantic import ValidationError

from .base import EVENT_TYPES, Event, utcnow
from .upcasting import upcast

_encode_headers = msgspec.json.Encoder().encode
SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
Headers = list[tuple[str, bytes]]


class PoisonRecord(Exception):
    """A record that cannot be decoded or fails validation: it belongs in the DLQ."""


class Envelope(msgspec.Struct, frozen=True):
    """An event with its CloudEvents attributes and the trace context of the operation that caused it.

    A frozen msgspec Struct rather than a frozen dataclass: every consumer builds one per record, and a frozen
    dataclass's `__init__` sets each field through `object.__setattr__` (2.0 us for these six; 0.15 here)."""

    event: Event
    source: str
    id: str = msgspec.field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = msgspec.field(default_factory=utcnow)
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def type(self) -> str:
        return self.event.type_name()

    @property
    def subject(self) -> str:
        return self.event.aggregate_id

    @property
    def topic(self) -> str:
        return self.event.topic


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def encode_data(event: Event) -> bytes:
    """The record value: compact UTF-8 JSON of `to_data()`, written by pydantic's encoder in one pass (the
    same bytes as `json.dumps(to_data(), separators=(",", ":"), ensure_ascii=False)`, without the dict).
    The model's serializer is called directly: `model_dump_json()` is the same call with its defaults, then
    decodes the bytes to text, which were encoded back here (1.88 -> 1.31 us for a PaymentReceived)."""
    return event.__pydantic_serializer__.to_json(event)


def ce_attributes(envelope: Envelope) -> list[tuple[str, str]]:
    """The CloudEvents attributes (and trace context) of a record's headers, as text; empty ones left out."""
    event = envelope.event
    attributes = (
        ("ce_specversion", SPEC_VERSION),
        ("ce_id", envelope.id),
        ("ce_source", envelope.source),
        ("ce_type", event.type_name()),
        ("ce_time", envelope.time.isoformat()),
        ("ce_subject", event.aggregate_id),
        ("ce_firmid", event.firm_id),
        ("ce_schemaversion", str(event.schema_version)),
        ("content-type", CONTENT_TYPE),
        ("traceparent", envelope.traceparent or ""),
        ("tracestate", envelope.tracestate or ""),
    )
    return [attribute for attribute in attributes if attribute[1]]  # the pairs kept, not built again


def ce_headers(envelope: Envelope) -> Headers:
    return [(name, value.encode()) for name, value in ce_attributes(envelope)]


def ce_headers_json(envelope: Envelope) -> str:
    """The headers as the outbox stores them: a JSON array of [name, text] pairs, in `ce_headers` order.
    Written by msgspec's encoder: an event's append spent ~3 us in the standard library's here, a third of
    its Python work (bench figure 4, 100 events a transaction); msgspec takes ~0.35 us."""
    return _encode_headers(ce_attributes(envelope)).decode()


def to_record(envelope: Envelope) -> KafkaRecord:
    return KafkaRecord(
        topic=envelope.topic,
        key=envelope.subject.encode(),
        value=encode_data(envelope.event),
        headers=ce_headers(envelope),
    )


def header_map(headers: Any) -> dict[str, str]:
    """Kafka headers (a sequence of (name, bytes)) as a dict of text; later duplicates win."""
    decoded: dict[str, str] = {}
    for name, value in headers or ():
        try:
            decoded[name] = value.decode() if value is not None else ""
        except UnicodeDecodeError as exc:
            raise PoisonRecord(f"header {name} is not UTF-8") from exc
    return decoded


def decode_event(event_type: str, data: Any, schema_version: int = 1) -> Event | None:
    """The event model for a payload, lifted to the current schema.

    None for a type this reader does not know (tolerant reader).
    """
    model = EVENT_TYPES.get(event_type)
    if model is None:
        return None
    if not isinstance(data, dict):
        raise PoisonRecord(f"{event_type} data is not a JSON object")
    try:
        payload = upcast(model, data, schema_version)
        return model.model_validate(payload)
    except (ValidationError, ValueError) as exc:
        raise PoisonRecord(f"{event_type} failed validation: {_short(exc)}") from exc


def from_record(value: bytes | None, headers: Any) -> Envelope | None:
    """Decode a Kafka record. None means a well-formed event of a type this reader ignores."""
    attrs = header_map(headers)
    missing = [h for h in ("ce_id", "ce_type", "ce_source", "ce_specversion") if not attrs.get(h)]
    if missing:
        raise PoisonRecord(f"missing CloudEvents headers: {', '.join(missing)}")
    if attrs["ce_specversion"] != SPEC_VERSION:
        raise PoisonRecord(f"unsupported ce_specversion {attrs['ce_specversion']!r}")
    event = _decode_value(attrs["ce_type"], value, _schema_version(attrs))
    if event is None:
        return None
    return Envelope(
        event=event,
        source=attrs["ce_source"],
        id=attrs["ce_id"],
        time=_time(attrs.get("ce_time")),
        traceparent=attrs.get("traceparent"),
        tracestate=attrs.get("tracestate"),
    )


def _decode_value(event_type: str, value: bytes | None, schema_version: int) -> Event | None:
    """The event in a record's value. A payload of the reader's own schema version (nearly all of them) is
    validated straight from the bytes by pydantic's JSON parser: one pass, no intermediate dict. The model's
    validator is called directly: `model_validate_json` is the same call behind a check of its keyword
    arguments (a PaymentReceived 4.9 -> 4.3 us; every consumer of every service decodes each record here)."""
    model = EVENT_TYPES.get(event_type)
    if model is None or schema_version != model.schema_version:
        return decode_event(event_type, _json(value), schema_version)
    if value is None:
        raise PoisonRecord("record has no value")
    try:
        event: Event = model.__pydantic_validator__.validate_json(value)
        return event
    except ValidationError as exc:
        raise PoisonRecord(_json_validation_reason(event_type, exc)) from exc


def _json_validation_reason(event_type: str, exc: ValidationError) -> str:
    """The reason json.loads + decode_event would have given for the same bytes."""
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return f"value is not UTF-8 JSON: {first['msg']}"
    if first["type"] == "model_type" and not first["loc"]:
        return f"{event_type} data is not a JSON object"
    return f"{event_type} failed validation: {_short(exc)}"


def _json(value: bytes | None) -> Any:
    if value is None:
        raise PoisonRecord("record has no value")
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonRecord(f"value is not UTF-8 JSON: {exc}") from exc


def _schema_version(attrs: dict[str, str]) -> int:
    raw = attrs.get("ce_schemaversion", "1")
    if not raw.isdigit():
        raise PoisonRecord(f"bad ce_schemaversion {raw!r}")
    return int(raw)


def _time(raw: str | None) -> datetime:
    if not raw:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise PoisonRecord(f"ce_time is not RFC 3339: {raw!r}") from exc
    if parsed.tzinfo is None:
        raise PoisonRecord(f"ce_time has no offset: {raw!r}")
    return parsed


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)
