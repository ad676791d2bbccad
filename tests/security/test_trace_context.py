"""A caller's `traceparent` on a public path (pay pages, the pay API, the processor's webhooks) does not
become the trace of the events it causes: the request starts a new trace and keeps the caller's as a link.
Staff calls, from inside, continue their caller's trace."""

from __future__ import annotations

import secrets

from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from paylinks_runtime.testing import eventually, header

from .firm import Firm, payment_body
from .system import System


def caller_context() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def _trace_of(system: System, firm: Firm, event_type: str) -> str:
    """The trace id of the firm's one event of that type, once it is on Kafka."""

    async def published() -> list[ConsumerRecord]:
        records = await system.kafka.of_firms(firm.id)
        return [r for r in records if header(r, "ce_type") == event_type]

    records = await eventually(published)
    assert isinstance(records, list)
    assert len(records) == 1, records
    traceparent = header(records[0], "traceparent")
    assert traceparent is not None
    return traceparent.split("-")[1]


async def test_a_payers_traceparent_is_a_link_not_the_trace_of_the_payment(
    system: System, firm: Firm, spans: InMemorySpanExporter
) -> None:
    # Protection: paylinks_runtime.server_spans.ServerSpans, on link-service's public_path_prefixes.
    token = await firm.account_token()
    trace_id, traceparent = caller_context()
    paid = await firm.pay(token, payment_body(1_000), headers={"traceparent": traceparent})
    assert paid.status_code == 202, paid.text
    assert await _trace_of(system, firm, "PaymentReceived") != trace_id
    [server_span] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/pay/{token}/payments"]
    assert [format(link.context.trace_id, "032x") for link in server_span.links] == [trace_id]
    assert format(server_span.context.trace_id, "032x") != trace_id


async def test_a_staff_call_continues_its_callers_trace(system: System, firm: Firm) -> None:
    # Protection: only the public prefixes start a new trace.
    trace_id, traceparent = caller_context()
    body = {"name": "Trust", "kind": "trust"}
    created = await firm.link.post(
        "/v1/bank-accounts", json=body, headers=firm.admin | {"traceparent": traceparent}
    )
    assert created.status_code == 201
    assert await _trace_of(system, firm, "BankAccountRegistered") == trace_id
