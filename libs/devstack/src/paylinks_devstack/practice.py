"""Publishes contacts and matters on practice.events, as the firm's practice-management system would."""

from __future__ import annotations

from paylinks_events import ContactCreated, Envelope, Event, MatterOpened, to_record
from paylinks_runtime.kafka import make_producer

SOURCE = "/practice-management"


async def publish(bootstrap_servers: str, events: list[Event]) -> None:
    producer = make_producer(bootstrap_servers, "practice-management")
    await producer.start()
    try:
        for event in events:
            record = to_record(Envelope(event=event, source=SOURCE))
            await producer.send_and_wait(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


def contact(firm_id: str, contact_id: str, name: str, email: str) -> ContactCreated:
    return ContactCreated(firm_id=firm_id, contact_id=contact_id, name=name, email=email)


def matter(firm_id: str, matter_id: str, contact_id: str, name: str, number: str) -> MatterOpened:
    return MatterOpened(firm_id=firm_id, matter_id=matter_id, contact_id=contact_id, name=name, number=number)
