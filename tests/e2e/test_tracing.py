"""One trace from the client's pay request, through the outbox and Kafka, into reconciliation and the
notifier: spans exported by the real service processes over OTLP."""

from __future__ import annotations

import asyncio

import pytest

from paylinks_devstack.client import PaylinksClient, token_of
from paylinks_devstack.stack import Stack
from paylinks_runtime.testing import eventually

from .otlp_receiver import OtlpReceiver, ReceivedSpan
from .test_payment_stories import open_matter, register_accounts

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
pytestmark = pytest.mark.timeout(180)


def chain_to_request(
    spans: list[ReceivedSpan], trace_id: str, service: str, through: str = ""
) -> list[ReceivedSpan] | None:
    """`service`'s consumer span and the spans from its producer back to link-service's pay request.

    A consumer span is the child of its producer span (one event) or, for a batch, links to it.
    `through`: the name of a span the chain must pass (e.g. the processor's webhook)."""
    by_id = {s.span_id: s for s in spans if s.trace_id == trace_id}
    for consumer in (s for s in spans if s.service == service and s.kind == CONSUMER):
        parents = [consumer.parent_span_id] if consumer.trace_id == trace_id else []
        parents += [span_id for linked_trace, span_id in consumer.links if linked_trace == trace_id]
        for producer in (by_id[p] for p in parents if p in by_id):
            chain = [producer, *ancestors(producer, by_id)]
            reaches = any(
                s.kind == SERVER and s.service == "link-service" and "/pay/" in s.name for s in chain
            )
            if reaches and (not through or any(s.name == through for s in chain)):
                return [consumer, *chain]
    return None


async def traced_chains(
    otlp: OtlpReceiver, trace_id: str, services: tuple[str, ...], through: str = ""
) -> dict[str, list[ReceivedSpan]]:
    """Wait until each service's consumer span in the trace is connected back to the pay request."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        spans = otlp.snapshot()
        chains = {service: chain_to_request(spans, trace_id, service, through) for service in services}
        if all(chains.values()):
            return {k: v for k, v in chains.items() if v}
        if asyncio.get_running_loop().time() > deadline:
            names = sorted({(s.service, s.name) for s in spans if s.trace_id == trace_id})
            raise AssertionError(f"trace {trace_id} incomplete: {chains}; spans seen: {names}")
        await asyncio.sleep(0.2)


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id and span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


async def test_a_pay_request_is_one_trace_through_kafka_into_reconciliation_and_the_notifier(
    stack: Stack, otlp: OtlpReceiver, firm: PaylinksClient
) -> None:
    accounts = await register_accounts(firm)  # a trust account, and the operating one that pays the fees
    url = await firm.account_link(accounts["trust"])
    response = await firm.pay(token_of(url), 5000, "Tracy Trace")
    assert response.status_code == 202
    trace_id = response.headers["X-Trace-Id"]

    chains = await traced_chains(otlp, trace_id, ("reconciliation-service", "notifier"))
    for service, (consumer, producer, *rest) in chains.items():
        assert consumer.kind == CONSUMER, service
        assert "payment.events" in consumer.name, service
        assert (producer.kind, producer.service, producer.name) == (
            PRODUCER,
            "link-service",
            "send payment.events",
        )
        (request,) = [s for s in rest if s.kind == SERVER]
        assert "/payments" in request.name

    notifier_consumer = chains["notifier"][0]
    smtp = await smtp_span_in(otlp, trace_id)  # the staff email the payment caused, in the same trace
    consumers = {s.span_id: s for s in otlp.snapshot() if s.service == "notifier" and s.kind == CONSUMER}
    parent = consumers[smtp.parent_span_id]  # the consumer span that queued the email
    assert (parent.trace_id, parent.name) == (trace_id, notifier_consumer.name)
    assert smtp.attributes["paylinks.email.outcome"] == "sent"


async def smtp_span_in(otlp: OtlpReceiver, trace_id: str) -> ReceivedSpan:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        for span in otlp.snapshot():
            if span.trace_id == trace_id and span.kind == CLIENT and span.name == "smtp send":
                return span
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no SMTP span in trace {trace_id}")
        await asyncio.sleep(0.2)


async def test_a_bill_payment_reaches_billing_through_the_processors_webhook_in_a_linked_trace(
    stack: Stack, otlp: OtlpReceiver, firm: PaylinksClient
) -> None:
    """The processor continues the pay request's trace into its webhook (its "sandbox webhook" span). At
    link-service's public edge a caller's traceparent is never adopted (issue #18): the webhook starts a new
    trace that keeps the caller's span as a link. So billing's consumer is in the webhook's trace, whose root
    links back to the pay request's trace: one story, two traces, joined by a link."""
    accounts = await register_accounts(firm)
    contact_id, matter_id = await open_matter(firm, "2026-0099")
    bill = await firm.issue_bill(matter_id, contact_id, 9000)
    url = await firm.bill_link(bill["bill_id"], accounts["operating"])
    response = await firm.pay(token_of(url), 9000, "Tracy Bill")
    assert response.status_code == 202
    pay_trace = response.headers["X-Trace-Id"]

    webhook, chain = await billing_chain_from_webhook(otlp, pay_trace)
    consumer, producer, *rest = chain
    assert "payment.events" in consumer.name
    assert (producer.kind, producer.name) == (PRODUCER, "send payment.events")
    assert webhook in rest
    assert webhook.parent_span_id == ""  # the root of its own trace, not a child of the caller's span
    linked = {span_id for trace_id, span_id in webhook.links if trace_id == pay_trace}
    # The sandbox ends its span once link-service answered the webhook, and exports it in its own batch:
    # it can arrive after the spans above.
    callers = await eventually(lambda: [s for s in otlp.snapshot() if s.span_id in linked])
    assert [(s.service, s.name) for s in callers] == [("processor-sandbox", "sandbox webhook")]


async def billing_chain_from_webhook(
    otlp: OtlpReceiver, pay_trace: str
) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
    """The webhook's SERVER span linked to the pay request's trace, and billing's consumer chain up to it."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        spans = otlp.snapshot()
        for webhook in (s for s in spans if _webhook_linked_to(s, pay_trace)):
            chain = chain_to_span(spans, webhook, "billing-service")
            if chain:
                return webhook, chain
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no billing chain from a webhook linked to {pay_trace}")
        await asyncio.sleep(0.2)


def _webhook_linked_to(span: ReceivedSpan, trace_id: str) -> bool:
    return (
        span.kind == SERVER
        and span.service == "link-service"
        and "/v1/processor/webhooks" in span.name
        and any(linked_trace == trace_id for linked_trace, _ in span.links)
    )


def chain_to_span(spans: list[ReceivedSpan], root: ReceivedSpan, service: str) -> list[ReceivedSpan] | None:
    """`service`'s consumer span and the spans from its producer back to `root`, in root's trace."""
    by_id = {s.span_id: s for s in spans if s.trace_id == root.trace_id}
    for consumer in (s for s in spans if s.service == service and s.kind == CONSUMER):
        parents = [consumer.parent_span_id] if consumer.trace_id == root.trace_id else []
        parents += [span_id for linked_trace, span_id in consumer.links if linked_trace == root.trace_id]
        for producer in (by_id[p] for p in parents if p in by_id):
            chain = [producer, *ancestors(producer, by_id)]
            if root in chain:
                return [consumer, *chain]
    return None
