"""The event contract: golden samples, the CloudEvents Kafka binding, tolerant reading, poison, upcasting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from paylinks_events import (
    EVENT_TYPES,
    Envelope,
    Event,
    MatterOpened,
    PaymentReceived,
    PoisonRecord,
    Topic,
    decode_event,
    encode_data,
    from_record,
    header_map,
    register_event_type,
    to_record,
    upcast,
)

pytestmark = pytest.mark.unit
GOLDEN = Path(__file__).parent / "golden"
CONTRACT_TOPICS = {
    "BankAccountRegistered": "link.events",
    "FirmProfileUpdated": "link.events",
    "LinkIssued": "link.events",
    "LinkRevoked": "link.events",
    "LinkPaused": "link.events",  # extension of v2 (issue 18)
    "BillLinksClosed": "link.events",  # extension of v2: link-service applied a bill's void
    "PaymentReceived": "payment.events",
    "PaymentProcessed": "payment.events",
    "PaymentFailed": "payment.events",
    "PaymentReturned": "payment.events",
    "RefundRequested": "payment.events",
    "RefundSucceeded": "payment.events",
    "RefundFailed": "payment.events",
    "PaymentDisputed": "payment.events",
    "DisputeClosed": "payment.events",
    "FeeCharged": "payment.events",
    "PayoutPaid": "payout.events",
    "BillIssued": "billing.events",
    "BillVoided": "billing.events",
    "BillPaymentApplied": "billing.events",
    "BillPaymentReversed": "billing.events",
    "BillPaid": "billing.events",
    "PaymentUnallocated": "billing.events",
    "PaymentLinked": "reconciliation.events",
    "PaymentUnlinked": "reconciliation.events",
    "ContactCreated": "practice.events",
    "MatterOpened": "practice.events",
}


def golden(event_type: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{event_type}.json").read_text())


def test_every_contract_event_has_a_model_on_its_topic() -> None:
    assert {name: cls.topic for name, cls in EVENT_TYPES.items()} == CONTRACT_TOPICS


@pytest.mark.parametrize("event_type", sorted(CONTRACT_TOPICS))
def test_golden_sample_decodes_and_encodes_back_unchanged(event_type: str) -> None:
    sample = golden(event_type)
    event = decode_event(event_type, sample)
    assert event is not None
    assert event.to_data() == sample


@pytest.mark.parametrize(
    "name", ["Zoë Ångström-Núñez", "日本語の名前", "emoji 😀", "tab\tline\nctl\x01\x7f", '\u2028"/\\']
)
def test_record_value_is_compact_utf8_json_of_the_data(name: str) -> None:
    # Compact separators and raw UTF-8 (no \\u escapes): the exact bytes consumers have always received.
    event = MatterOpened(firm_id="f1", matter_id="m1", contact_id="c1", name=name)
    expected = json.dumps(event.to_data(), separators=(",", ":"), ensure_ascii=False).encode()
    assert encode_data(event) == expected


@pytest.mark.parametrize("event_type", sorted(CONTRACT_TOPICS))
def test_record_value_is_what_pydantic_dumps_for_every_event_type(event_type: str) -> None:
    event = decode_event(event_type, golden(event_type))
    assert event is not None
    assert encode_data(event) == event.model_dump_json().encode()


@pytest.mark.parametrize("event_type", sorted(CONTRACT_TOPICS))
def test_record_round_trip_keeps_key_value_and_every_header(event_type: str) -> None:
    event = decode_event(event_type, golden(event_type))
    assert event is not None
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    envelope = Envelope(event=event, source="/test", traceparent=traceparent, tracestate="vendor=1")
    record = to_record(envelope)
    headers = header_map(record.headers)

    assert record.topic == CONTRACT_TOPICS[event_type]
    assert record.key == event.aggregate_id.encode()
    assert json.loads(record.value) == golden(event_type)
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == envelope.id
    assert headers["ce_source"] == "/test"
    assert headers["ce_type"] == event_type
    assert datetime.fromisoformat(headers["ce_time"]).tzinfo is not None
    assert headers["ce_subject"] == event.aggregate_id
    assert headers["ce_firmid"] == "firm-acme"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"] == traceparent
    assert headers["tracestate"] == "vendor=1"
    assert from_record(record.value, record.headers) == envelope


def test_unknown_fields_are_ignored_and_unknown_types_skipped() -> None:
    sample = {**golden("PaymentFailed"), "retry_after": 30}
    event = decode_event("PaymentFailed", sample)
    assert event is not None
    assert not hasattr(event, "retry_after")
    record = to_record(Envelope(event=event, source="/test"))
    headers = [(k, v if k != "ce_type" else b"SomethingNew") for k, v in record.headers]
    assert from_record(record.value, headers) is None


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"not json", None, "not UTF-8 JSON"),
        (b"\xff\xfe", None, "not UTF-8 JSON"),
        (b"[1, 2]", None, "not a JSON object"),
        (b'{"payment_id": "p1"}', None, "failed validation"),
        (None, None, "no value"),
        (b"{}", [("ce_type", b"PaymentFailed")], "missing CloudEvents headers"),
    ],
)
def test_poison_records_are_refused_with_a_reason(value: bytes | None, headers: Any, reason: str) -> None:
    good = to_record(Envelope(event=decode_event("PaymentFailed", golden("PaymentFailed")), source="/t"))  # type: ignore[arg-type]
    with pytest.raises(PoisonRecord, match=reason):
        from_record(value, headers if headers is not None else good.headers)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 0),
        ("amount", -5),
        ("amount", 12.5),
        ("amount", "100"),
        ("method", "cash"),
        ("received_at", "2026-11-24T10:00:00"),
    ],
)
def test_payment_received_rejects_bad_values(field: str, value: Any) -> None:
    with pytest.raises(PoisonRecord):
        decode_event("PaymentReceived", {**golden("PaymentReceived"), field: value})


def test_a_card_number_has_no_place_in_a_payment_event() -> None:
    sample = {**golden("PaymentReceived"), "card_number": "4242424242424242", "last4": "4242"}
    event = PaymentReceived.model_validate(sample)
    assert "4242424242424242" not in json.dumps(event.to_data())


class Renamed(Event, register=False):
    """Version 3 of a type: v1 called `full_name` `name`, v2 had no `currency`."""

    topic = "test.events"
    key_field = "contact_id"
    schema_version = 3
    contact_id: str
    full_name: str
    currency: str

    @staticmethod
    def upcast_v1(payload: dict[str, Any]) -> dict[str, Any]:
        payload["full_name"] = payload.pop("name")
        return payload

    @staticmethod
    def upcast_v2(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "currency": "USD"}


def test_upcasters_on_the_model_lift_an_old_payload_step_by_step() -> None:
    assert upcast(Renamed, {"name": "A"}, 1) == {"full_name": "A", "currency": "USD"}
    assert upcast(Renamed, {"full_name": "A"}, 2) == {"full_name": "A", "currency": "USD"}
    assert upcast(Renamed, {"full_name": "A", "currency": "EUR"}, 3) == {"full_name": "A", "currency": "EUR"}
    with pytest.raises(ValueError, match="newer than this reader"):
        upcast(Renamed, {}, 4)


def test_defining_an_event_class_registers_it_and_a_second_of_one_name_is_refused() -> None:
    assert EVENT_TYPES["PaymentReturned"].topic == "payment.events"
    assert "Renamed" not in EVENT_TYPES  # register=False

    class PaymentReturned(Event, register=False):
        topic = "test.events"
        key_field = "payment_id"
        payment_id: str

    with pytest.raises(TypeError, match="defined twice"):
        register_event_type(PaymentReturned)


def test_a_link_issued_of_contract_v1_loses_its_url_when_read() -> None:
    v1 = golden("LinkIssued") | {"url": "https://pay.example/pay/secret-token"}
    event = decode_event("LinkIssued", v1, schema_version=1)
    assert event is not None
    assert "url" not in event.to_data()
    assert "secret-token" not in encode_data(event).decode()


def test_a_payout_whose_lines_do_not_add_up_is_poison() -> None:
    sample = golden("PayoutPaid")
    with pytest.raises(PoisonRecord, match="sum of its lines"):
        decode_event("PayoutPaid", {**sample, "amount": sample["amount"] + 1})


def test_a_missing_upcaster_step_is_a_poison_record() -> None:
    record = to_record(Envelope(event=decode_event("BillPaid", golden("BillPaid")), source="/t"))  # type: ignore[arg-type]
    headers = [(k, b"0" if k == "ce_schemaversion" else v) for k, v in record.headers]
    with pytest.raises(PoisonRecord, match="no upcaster"):
        from_record(record.value, headers)


def test_topics_match_the_contract() -> None:
    assert {t.value for t in Topic} == set(CONTRACT_TOPICS.values())
    assert datetime.now(UTC).tzinfo is UTC


class RenamedContact(Event, register=False):
    """A type at schema version 2 whose v1 payloads named `full_name` `name`."""

    topic = "test.events"
    key_field = "contact_id"
    schema_version = 2
    contact_id: str
    full_name: str

    @staticmethod
    def upcast_v1(payload: dict[str, Any]) -> dict[str, Any]:
        payload["full_name"] = payload.pop("name")
        return payload


def _record_at(version: int, data: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    event = RenamedContact(firm_id="f", contact_id="c1", full_name="A")
    record = to_record(Envelope(event=event, source="/t"))
    headers = [(k, str(version).encode() if k == "ce_schemaversion" else v) for k, v in record.headers]
    return json.dumps(data).encode(), headers


def test_a_record_of_an_older_schema_version_is_lifted_and_the_current_one_read_as_it_is() -> None:
    register_event_type(RenamedContact)
    try:
        old = from_record(*_record_at(1, {"firm_id": "f", "contact_id": "c1", "name": "A"}))
        current = from_record(*_record_at(2, {"firm_id": "f", "contact_id": "c1", "full_name": "A"}))
        assert old is not None
        assert current is not None
        assert old.event == current.event
        assert current.event == RenamedContact(firm_id="f", contact_id="c1", full_name="A")
        with pytest.raises(PoisonRecord, match="failed validation"):  # a v1 payload claiming to be v2
            from_record(*_record_at(2, {"firm_id": "f", "contact_id": "c1", "name": "A"}))
        with pytest.raises(PoisonRecord, match="newer than this reader"):
            from_record(*_record_at(3, {"firm_id": "f", "contact_id": "c1", "full_name": "A"}))
    finally:
        EVENT_TYPES.pop("RenamedContact", None)
