"""After the whole end-to-end run (marked `after_the_run`: the root conftest puts it after every other test
of this folder, whatever the file order): no card number, CVC, bank account or routing number in any log
file of the five processes (the sandbox processor's own included: the one place they are sent to), any
table of their schemas, any Kafka record of the run's firms (contract topics and dead letters) or any email
in the SMTP sink. What to look for is paylinks_runtime.card_data: the very numbers the clients send.

This module pays by card and by eCheck itself first (the processor's tokenization, charge and settlement),
so the scan never passes for want of card data having gone through the system."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from paylinks_devstack.client import ECHECK_OK, PaylinksClient, token_of
from paylinks_devstack.mailbox import Mailbox
from paylinks_devstack.stack import SERVICES, Stack
from paylinks_runtime.card_data import CardDataScan
from paylinks_runtime.testing import BOOTSTRAP, DATABASE_URL, JWT_SECRET, header

from .conftest import firm_prefix

pytestmark = [pytest.mark.after_the_run, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
async def run_over(stack: Stack) -> AsyncIterator[Stack]:
    """The run, once a card payment and an eCheck of this module are processed and emailed."""
    firm = PaylinksClient(stack.config, f"{firm_prefix(stack)}{uuid.uuid4().hex[:8]}", JWT_SECRET)
    mailbox = Mailbox(stack.config.maildir)
    try:
        trust = await firm.register_account("Trust Account", "trust")
        await firm.register_account("Operating Account", "operating")
        recipients = {"emails": [f"staff@{firm.firm_id}.example"]}
        await firm.call("PUT", "notifier", "/v1/notification-recipients", expect=200, json=recipients)
        token = token_of(
            (await firm.call("POST", "link-service", f"/v1/bank-accounts/{trust}/payment-link"))["url"]
        )
        for method in ("card", "echeck"):
            payer = f"Scan {uuid.uuid4().hex[:6]}"
            response = await firm.pay(token, 4_100, payer, method=method, bank=ECHECK_OK)
            assert response.status_code == 202, response.text
            await firm.when(partial(firm.payment, response.json()["payment_id"]), "status", "ready")
            await mailbox.wait_for(payer, "ready to link")
        yield stack
    finally:
        await firm.close()


async def test_no_card_or_bank_number_in_any_log_line(run_over: Stack) -> None:
    scan = CardDataScan()
    scan.logs((run_over.config.home / "logs").glob("*.log"))
    assert [s for s in SERVICES if not scan.log_lines[f"{s}.log"]] == []  # every process's log was read
    processor = run_over.log_path("processor-sandbox").read_text()
    assert '"logger": "processor_sandbox.charges"' in processor  # ...the processor's own lines among them
    assert scan.found == [], scan.summary()


async def test_no_card_or_bank_number_in_any_table(run_over: Stack) -> None:
    scan = CardDataScan()
    await scan.tables(DATABASE_URL, run_over.config.schemas.values())  # the four services' and the sandbox's
    assert set(run_over.config.schemas) == set(SERVICES)
    assert scan.read["table rows"] > 0
    assert scan.found == [], scan.summary()


async def test_no_card_or_bank_number_on_kafka(
    run_over: Stack, kafka_before_the_run: dict[TopicPartition, int]
) -> None:
    records = [
        r
        for r in await read_from(kafka_before_the_run)
        if (header(r, "ce_firmid") or "").startswith(firm_prefix(run_over))
    ]
    assert any(header(r, "ce_type") == "PaymentReceived" and b'"last4":"4242"' in r.value for r in records)
    scan = CardDataScan()
    scan.records(records)  # dead letters of the run's firms among them: they keep their headers
    assert scan.found == [], scan.summary()


async def test_no_card_or_bank_number_in_any_email(run_over: Stack) -> None:
    scan = CardDataScan()
    scan.emails(run_over.config.maildir)
    assert scan.read["emails"] >= 4  # this module's own: received and ready to link, card and eCheck
    assert scan.found == [], scan.summary()


async def read_from(starts: dict[TopicPartition, int]) -> list[ConsumerRecord]:
    """Every record of these partitions from the given offsets to their end offsets now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    try:
        consumer.assign(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(list(starts))
        records: list[ConsumerRecord] = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return records
    finally:
        await consumer.stop()
