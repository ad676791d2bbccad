"""After the whole run (marked `after_the_run`: the folder's conftest puts it after every other test of the
folder, whatever the file order): no card number, CVC, bank account or routing number in any table of the
four services or the sandbox processor, any log line (the processor's own included), any Kafka record of
the run's firms (dead letters included) or any email. This module adds the payments that carry such data
through every path: JSON API and HTML form, card and eCheck, accepted, declined and invalid, with and
without an Idempotency-Key, for a bank-account link and a bill."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from paylinks_runtime.card_data import (
    CVC,
    CVC_FIELD,
    DECLINED_CARD,
    INVALID_CARD,
    LEAK,
    OK_ACCOUNT,
    OK_CARD,
    R01_ACCOUNT,
    record_text,
)
from paylinks_runtime.testing import CARD_EXPIRY

from .firm import Firm, card, echeck, payment_body
from .recorders import schema_text
from .system import System

pytestmark = pytest.mark.after_the_run

EXPIRED = {"number": OK_CARD, "exp_month": 1, "exp_year": 2001, "cvc": CVC}


async def pay_with_everything(firm: Firm) -> list[str]:
    """Payments through every path that carries card or bank data; the ids of the accepted ones."""
    account_id = await firm.register_account()
    token = await firm.account_token(account_id)
    bill_token = await firm.bill_token(await firm.issue_bill(amount=50_000), account_id)
    accepted = [
        await firm.paid(token, payment_body(1_100)),
        await firm.paid(token, payment_body(1_200, **echeck(OK_ACCOUNT))),
        await firm.paid(token, payment_body(1_300, **echeck(R01_ACCOUNT))),
        await firm.paid(bill_token, payment_body(1_400)),
    ]
    body = await firm.tokenized(payment_body(1_500))
    keyed = await firm.post_payment(token, body, headers={"Idempotency-Key": "k-1"})
    replayed = await firm.post_payment(token, body, headers={"Idempotency-Key": "k-1"})
    assert keyed.status_code == 202
    assert replayed.json() == keyed.json()
    accepted.append(keyed.json()["payment_id"])
    refused = [
        await firm.pay(token, payment_body(1_600, card=card(DECLINED_CARD))),
        await firm.pay(
            token, payment_body(1_900, card=card(DECLINED_CARD)), headers={"Idempotency-Key": "k-2"}
        ),
        # Card and bank numbers posted to link-service itself: refused before anything reads them.
        await firm.post_payment(token, payment_body(1_700, card=card(INVALID_CARD))),
        await firm.post_payment(token, payment_body(1_800, card=EXPIRED)),
        await firm.post_payment(token, payment_body(1_800, **echeck(OK_ACCOUNT))),
        await firm.post_payment(token, payment_body(1_800, reference=f"card {OK_CARD} cvc {CVC}")),
    ]
    assert [r.status_code for r in refused] == [402, 402, 422, 422, 422, 422]
    form = {"amount": "20.00", "name": "Cy", "email": "cy@example.com", "method": "card"}
    form |= {"card_number": OK_CARD, "card_exp": CARD_EXPIRY, "card_cvc": CVC}
    page = await firm.link.post(f"/pay/{token}", data=form)
    assert page.status_code == 405  # the pay page takes no post: its script sends link-service only a token
    for response in [*refused, page]:
        assert not LEAK.search(response.text), response.text
    return accepted


@pytest.fixture(scope="module")
async def run_over(system: System, producer: AIOKafkaProducer) -> AsyncIterator[System]:
    """The run, once this module's payments are through reconciliation and the notifier."""
    firm = Firm(system, producer)
    await firm.receive_emails()
    for payment_id in await pay_with_everything(firm):
        await firm.payment_in(payment_id, "pending", "ready", "linked", "failed")
        await firm.mail_about(payment_id, "Payment received")
    yield system
    await firm.close()


async def test_no_card_or_bank_number_in_any_table(run_over: System) -> None:
    # Protection: card and bank numbers go from the browser to the processor only (link-service refuses them);
    # the processor keeps brand and last four; idempotency fingerprints cover the token and the request.
    dumps = {service.name: await schema_text(service.schema) for service in run_over.services.values()}
    dumps["processor-sandbox"] = await schema_text(run_over.processor.settings.db_schema)
    assert "4242" in dumps["link-service"]
    assert "4242" in dumps["reconciliation-service"]
    for name, dump in dumps.items():
        assert not LEAK.findall(dump), (name, sorted(set(LEAK.findall(dump))))
        assert not CVC_FIELD.search(dump), name


async def test_no_card_or_bank_number_in_any_log_line(run_over: System) -> None:
    # Protection: SecretStr / repr=False on every instrument field; no request body is ever logged.
    logs = run_over.logs.text
    assert '"service": "paylinks"' in logs  # the recorder did see the services' lines
    # ...and the processor's own: the one place card and bank numbers are sent to (tokenization, charges).
    assert '"logger": "processor_sandbox.charges"' in logs
    leaking = [line for line in logs.splitlines() if LEAK.search(line)]
    assert leaking == [], "\n".join(LEAK.sub("<SECRET>", line)[:2000] for line in leaking)


async def test_no_card_or_bank_number_on_kafka_and_no_dead_letter(run_over: System) -> None:
    # Protection: PaymentReceived carries brand and last four only; hostile text poisons no consumer.
    records = await run_over.kafka.of_firms(run_over.firm_prefix)
    text = "\n".join(record_text(r) for r in records)
    assert "PaymentReceived" in text
    assert '"last4":"4242"' in text
    assert not LEAK.findall(text), sorted(set(LEAK.findall(text)))
    assert not CVC_FIELD.search(text), CVC_FIELD.findall(text)
    assert [r.topic for r in records if r.topic.endswith(".dlq")] == []


async def test_no_card_or_bank_number_in_any_email(run_over: System) -> None:
    # Protection: the notifier's notices describe the method as brand and last four.
    messages = [m.as_string() for m in run_over.sink.messages]
    assert any("4242" in m for m in messages)
    for message in messages:
        assert not LEAK.findall(message), sorted(set(LEAK.findall(message)))
