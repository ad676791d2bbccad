"""What the rebuild's bulk load copies raw, and what it leaves to the per-event projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord

from paylinks_events import (
    BillPaid,
    ContactCreated,
    Envelope,
    FeeCharged,
    Payer,
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
    data = json.loads(rows["raw_payment_received"][0][5])
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


def test_the_two_busiest_types_are_copied_undecoded_and_checked_in_postgres() -> None:
    loading = bulk.BulkLoad()
    payment = Envelope(received(), source="/link")
    loading.add_record(record(payment))
    exponent = to_record(payment).value.replace(b'{"firm_id"', b'{"extra":1e5,"firm_id"')
    loading.add_record(record(payment, value=exponent))  # a number with an exponent is left to pydantic
    loading.add_record(record(payment, value=to_record(payment).value.replace(b"100", b"1e2")))
    batch = loading.take()
    (first, second) = batch.rows["raw_payment_received"]
    assert first == (1, payment.id, "/link", True, False, to_record(payment).value.decode())
    assert second[4] is True, "decoded by pydantic, copied as it writes it back"
    assert list(batch.unchecked) == [1]
    assert loading.events == 2, "1e2 is no integer to pydantic: skipped"
    loading.add_record(record(Envelope(received(reference="7e7"), source="/link")))
    assert list(loading.take().unchecked) == [3], "in a string it is no exponent: checked in Postgres"


@pytest.mark.parametrize(
    ("text", "exponent"),
    [
        ('{"a":1e5}', True),
        ('{"a":[2,-1.5E-3]}', True),
        ('{"a":"1e5","b":12}', False),  # in a string: no exponent
        ('{"id":"99e752fa","n":null,"t":true}', False),
        ('{"a":"say \\"hi\\"","b":3e1}', True),  # an escaped quote: the whole text's pattern decides
        ('{"a":"\\", 1e5","b":3}', True),  # ... and may take a look-alike in a string (only slower)
        ('{"a":"\\"","b":3}', False),
    ],
)
def test_an_exponent_is_found_in_numbers_only(text: str, exponent: bool) -> None:
    assert bulk._has_exponent(text) is exponent


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


def test_what_the_checks_refuse_is_decoded_poison_skipped_and_valid_events_applied_per_event() -> None:
    loading = bulk.BulkLoad()
    valid, poison = Envelope(received(), source="/link"), Envelope(received(), source="/link")
    loading.add_record(record(valid))
    loading.add_record(record(poison, value=b'{"firm_id": "f"}'))
    batch = loading.take()
    assert loading.events == 2
    loading.settle(batch, [1, 2])
    assert loading.events == 1
    assert [e.id for e in loading.per_event] == [valid.id]


def test_a_batch_refused_whole_goes_per_event() -> None:
    loading = bulk.BulkLoad()
    contact = Envelope(ContactCreated(firm_id="f", contact_id="c", name="Dana"), source="/p")
    payment = Envelope(received(), source="/link")
    loading.add(contact)
    loading.add_record(record(payment))
    loading.add_record(record(payment, value=b"{not json"))
    loading.settle(loading.take(), None)
    assert [e.id for e in loading.per_event] == [contact.id, payment.id]
    assert loading.events == 2


def test_a_batch_whose_statement_failed_is_decoded_here_and_copied_again() -> None:
    loading = bulk.BulkLoad()
    contact = Envelope(ContactCreated(firm_id="f", contact_id="c", name="Dana"), source="/p")
    payment = Envelope(received(), source="/link")
    loading.add(contact)
    loading.add_record(record(payment))
    loading.add_record(record(payment, value=b"{not json"))
    retry = loading.decoded_again(loading.take())
    assert [row[:5] for row in retry.rows["raw_payment_received"]] == [(2, payment.id, "/link", True, True)]
    assert [row[0] for row in retry.rows["raw_contact_created"]] == [1]
    assert (retry.unchecked, loading.events, loading.per_event) == ({}, 2, [])
