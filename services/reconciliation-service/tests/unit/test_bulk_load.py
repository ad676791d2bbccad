"""What the rebuild's bulk load copies raw, and what it leaves to the per-event projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from paylinks_events import (
    BillPaid,
    ContactCreated,
    DebitAuthorization,
    Envelope,
    FeeCharged,
    Payer,
    PaymentProcessed,
    PaymentReceived,
    to_record,
)
from reconciliation_service import bulk

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def received(**fields: object) -> PaymentReceived:
    values: dict[str, object] = {
        "firm_id": "f",
        "payment_id": "p",
        "bank_account_id": "b",
        "source": "qr_code",
        "amount": 100,
        "method": "card",
        "payer": {"name": "Pat", "email": "pat@example.com"},
        "received_at": T0,
    }
    return PaymentReceived.model_validate(values | fields)


def test_every_type_the_projection_uses_is_built_set_based() -> None:
    assert set(bulk.RAW_TABLES) == bulk.PROJECTED


def test_events_are_copied_raw_in_read_order_with_their_first_delivery_marked() -> None:
    loading = bulk.BulkLoad()
    payment = Envelope(received(), source="/link")
    fee = Envelope(
        FeeCharged(
            firm_id="f", fee_id="x", payment_id="p", kind="processing", amount=3, bank_account_id="b",
            charged_at=T0,
        ),
        source="/link",
    )  # fmt: skip
    for envelope in (payment, fee, payment, fee):
        loading.add(envelope)
    rows = loading.take().rows
    assert [row[:4] for row in rows["raw_payment_received"]] == [
        (1, payment.id, "/link", True),
        (3, payment.id, "/link", False),  # redelivered: no second history row
    ]
    assert [row[3] for row in rows["raw_fee_charged"]] == [True, True]  # fees keep no history
    data = json.loads(rows["raw_payment_received"][0][4])
    assert (data["currency"], data["link_id"]) == ("USD", None), "canonical: defaults written out"
    assert data["payer"] == {"name": "Pat", "email": "pat@example.com"}
    assert (loading.loaded, loading.events, loading.per_event, loading.take().rows) == (4, 4, [], {})


def test_what_postgres_would_refuse_in_bulk_is_left_to_the_per_event_projection() -> None:
    loading = bulk.BulkLoad()
    odd = [
        Envelope(ContactCreated(firm_id="f", contact_id="c", name="nul\x00"), source="/p"),
        Envelope(ContactCreated(firm_id="f", contact_id="c", name="bell\x07"), source="/p"),
        Envelope(received(amount=10**19), source="/link"),
        Envelope(received(), source="/li\x00nk"),
    ]
    for envelope in odd:
        loading.add(envelope)
    loading.add(Envelope(received(payer=Payer(name="Zoë ☃", email="z@example.com")), source="/link"))
    loading.add(Envelope(BillPaid(firm_id="f", bill_id="b", paid_at=T0), source="/billing"))  # not projected
    assert loading.per_event == odd
    assert list(loading.take().rows) == ["raw_payment_received"]
    assert (loading.loaded, loading.events) == (1, 6)


def record(envelope: Envelope, value: bytes | None = None, **headers: str | None) -> ConsumerRecord:  # type: ignore[type-arg]
    kafka = to_record(envelope)
    named = dict(kafka.headers) | {name: v.encode() for name, v in headers.items() if v is not None}
    named = {name: v for name, v in named.items() if headers.get(name, "") is not None}
    return ConsumerRecord(
        kafka.topic, 0, 7, 0, 0, kafka.key, kafka.value if value is None else value, None, 0, 0,
        list(named.items()),
    )  # fmt: skip


def test_the_two_busiest_types_are_copied_undecoded_when_their_json_fits_its_shape() -> None:
    loading = bulk.BulkLoad()
    payment = Envelope(received(), source="/link")
    text = to_record(payment).value
    loading.add_record(record(payment))
    loading.add_record(record(payment, value=text.replace(b'{"firm_id"', b'{"extra":1e5,"firm_id"')))
    loading.add_record(record(payment, value=text.replace(b"100", b"1e2")))  # no integer to pydantic
    other_form = json.loads(text) | {"last4": "\u0661\u0662\u0663\u0664"}  # Arabic-Indic digits: valid
    loading.add_record(record(payment, value=json.dumps(other_form, ensure_ascii=False).encode()))
    batch = loading.take()
    (first, extra, decoded) = batch.rows["raw_payment_received"]
    assert first == (1, payment.id, "/link", True, text.decode())
    assert extra[4] == text.decode().replace('{"firm_id"', '{"extra":1e5,"firm_id"'), "a field it ignores"
    assert json.loads(decoded[4])["last4"] == "\u0661\u0662\u0663\u0664", (
        "decoded by pydantic, as it writes it"
    )
    assert list(batch.undecoded) == [1, 2]
    assert (loading.events, loading.per_event) == (3, []), "1e2 skipped as poison"


def _shape_fields(struct: type) -> dict[str, bool]:
    return {f.name: f.required for f in msgspec.structs.fields(struct)}


@pytest.mark.parametrize(
    ("shape", "model"),
    [
        (bulk.SHAPES["PaymentReceived"].type, PaymentReceived),
        (bulk.SHAPES["PaymentProcessed"].type, PaymentProcessed),
        (bulk._Payer, Payer),
        (bulk._Authorization, DebitAuthorization),
    ],
)
def test_a_shape_has_every_field_of_its_model_and_requires_what_it_requires(
    shape: type, model: type[BaseModel]
) -> None:
    """The build reads the raw JSON's fields: a field the model gains must be in the shape too."""
    assert _shape_fields(shape) == {n: f.is_required() for n, f in model.model_fields.items()}


def test_every_shape_is_tested_against_its_model() -> None:
    assert set(bulk.SHAPES) == {"PaymentReceived", "PaymentProcessed"}


_AT = "2026-11-24T12:00:00Z"


@pytest.mark.parametrize(
    ("change", "fits"),
    [
        ({}, True),
        ({"received_at": "2024-02-29T23:59:59.123456+14:00"}, True),
        ({"received_at": "2026-11-24T12:00:00-00:00", "currency": "EUR", "last4": "0000"}, True),
        ({"authorization": {"text_version": "v1", "name": "N", "accepted_at": _AT}, "bill_id": None}, True),
        ({"received_at": "2026-02-29T12:00:00Z"}, False),  # no such day
        ({"received_at": "2026-04-31T12:00:00Z"}, False),
        ({"received_at": "2026-11-24T12:00:00"}, False),  # no offset
        ({"received_at": "2026-11-24T12:00:00Z\n"}, False),  # \Z, not $: pydantic's end is the text's
        ({"received_at": "2026-11-24T12:00:00.1234567Z"}, False),  # past microseconds
        ({"received_at": "2026-11-24T12:00:00+15:00"}, False),  # an offset Postgres refuses
        ({"received_at": "2026-11-24 12:00:00Z"}, False),  # another form pydantic may take: decoded
        (
            {"authorization": {"text_version": "v1", "name": "N", "accepted_at": "2026-09-31T00:00:00Z"}},
            False,
        ),
        ({"last4": "4242\n"}, False),
        ({"last4": "42a2"}, False),
        ({"amount": 0}, False),
        ({"amount": 10**18}, False),  # 19 digits: no bigint
        ({"amount": 1234.0}, False),
        ({"amount": True}, False),
        ({"currency": None}, False),
        ({"currency": "usd"}, False),
        ({"currency": "US"}, False),
        ({"currency": "USDX"}, False),
        ({"currency": "\u00c9UR"}, False),  # a capital letter, not A to Z
        ({"source": "web"}, False),
        ({"payer": {"name": "", "email": "e"}}, False),
        ({"firm_id": ""}, False),
    ],
)
def test_what_fits_a_shape_pydantic_takes_too(change: dict[str, object], fits: bool) -> None:
    value = json.dumps(json.loads(to_record(Envelope(received(), source="/l")).value) | change).encode()
    assert bulk._fits("PaymentReceived", value) is fits
    if fits:
        PaymentReceived.model_validate_json(value)


def test_a_key_given_twice_fits_only_when_each_of_its_values_does() -> None:
    """jsonb keeps the last of a key given twice: the shape must not take a bad one for a good one."""
    text = to_record(Envelope(received(), source="/l")).value.decode()
    assert not bulk._fits("PaymentReceived", (text[:-1] + ', "amount": "7"}').encode())
    assert not bulk._fits("PaymentReceived", ('{"amount": "7", ' + text[1:]).encode())
    assert bulk._fits("PaymentReceived", (text[:-1] + ', "amount": 7}').encode())


@pytest.mark.parametrize(
    "headers",
    [
        {"ce_source": None},  # a header missing: poison
        {"ce_specversion": "0.3"},
        {"ce_schemaversion": "x"},
        {"ce_time": "yesterday"},
        {"ce_time": "2026-11-24T12:00:00"},  # no offset
    ],
)
def test_a_record_whose_headers_from_record_refuses_is_skipped(headers: dict[str, str | None]) -> None:
    loading = bulk.BulkLoad()
    loading.add_record(record(Envelope(received(), source="/link"), **headers))
    assert (loading.events, loading.take().rows, loading.per_event) == (0, {}, [])


def test_a_batch_refused_whole_goes_per_event() -> None:
    loading = bulk.BulkLoad()
    contact = Envelope(ContactCreated(firm_id="f", contact_id="c", name="Dana"), source="/p")
    payment = Envelope(received(), source="/link")
    loading.add(contact)
    loading.add_record(record(payment))
    loading.add_record(record(payment, value=b"{not json"))  # poison: skipped when read
    loading.refused_whole(loading.take())
    assert [e.id for e in loading.per_event] == [contact.id, payment.id]
    assert loading.events == 2


def test_a_batch_whose_statement_failed_is_decoded_here_and_copied_again() -> None:
    loading = bulk.BulkLoad()
    contact = Envelope(ContactCreated(firm_id="f", contact_id="c", name="Dana"), source="/p")
    payment = Envelope(received(), source="/link")
    loading.add(contact)
    text = to_record(payment).value.replace(b'{"firm_id"', b'{"extra":1e999999,"firm_id"')  # jsonb: no
    loading.add_record(record(payment, value=text))
    batch = loading.take()
    assert list(batch.undecoded) == [2]
    retry = loading.decoded_again(batch)
    (row,) = retry.rows["raw_payment_received"]
    assert row[:4] == (2, payment.id, "/link", True)
    assert "extra" not in json.loads(row[4]), "copied as pydantic writes it back"
    assert [row[0] for row in retry.rows["raw_contact_created"]] == [1]
    assert (retry.undecoded, loading.events, loading.per_event) == ({}, 2, [])
