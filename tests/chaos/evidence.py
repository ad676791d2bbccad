"""Reads what the system holds once the dust settles: every record on the suite's own broker, the
reconciliation and billing tables, the emails in the SMTP sink's maildir, the consumers' committed offsets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, RecordMetadata

from paylinks_events import ALL_TOPICS, Topic, dlq_topic
from paylinks_runtime.card_data import CardDataScan
from paylinks_runtime.kafka import contract_topics

from .system import CONSUMED, ChaosSystem
from .trust import TrustEvidence, trust_balances


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


async def read_topics(bootstrap: str, topics: Sequence[str]) -> list[ConsumerRecord]:
    """Every record of the topics, from the beginning to the end offsets they have now."""
    # "earliest" as the reset policy, not only seek_to_beginning(): the fetcher resets freshly assigned
    # partitions by the policy on its own, and a late answer to that could put the position at the end.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while await _behind(consumer, ends):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(await _partitions(consumer, topics)))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    for _ in range(50):
        await consumer._client.force_metadata_update()
        found = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if found and all(consumer.partitions_for_topic(t) for t in topics):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no partitions for {topics}")


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def consumer_lag(system: ChaosSystem) -> dict[str, int]:
    """Per consumer group of the stack: records between its committed offsets and the ends of its topics."""
    bootstrap = system.infra.bootstrap
    ends = await end_offsets(bootstrap, sorted({t for topics in CONSUMED.values() for t in topics}))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        lag = {}
        for service, topics in CONSUMED.items():
            committed = await admin.list_consumer_group_offsets(system.group(service))
            lag[service] = sum(
                end - (committed[tp].offset if tp in committed else 0)
                for tp, end in ends.items()
                if tp.topic in topics
            )
        return lag
    finally:
        await admin.close()


@dataclass(frozen=True)
class ProjectedPayment:
    payment_id: str
    firm_id: str
    status: str
    reference: str | None
    amount: int | None
    bill_id: str | None
    unallocated_amount: int | None
    returned_amount: int | None = None
    returned_reason: str | None = None


@dataclass(frozen=True)
class ProjectedReversal:
    """A refund or a dispute in reconciliation's read model (its status: pending/succeeded/failed, or
    open/won/lost)."""

    payment_id: str
    reversal_id: str  # the refund_id or the dispute_id
    amount: int
    status: str


@dataclass(frozen=True)
class ProcessorRefund:
    """A refund the processor holds: money that left (or will leave) the firm's account."""

    payment_id: str
    refund_id: str
    amount: int
    status: str


@dataclass(frozen=True)
class BillRow:
    bill_id: str
    firm_id: str
    amount: int
    balance: int
    state: str


async def projected_payments(system: ChaosSystem, firm_ids: Iterable[str]) -> list[ProjectedPayment]:
    rows = await _fetch(
        system,
        "reconciliation-service",
        "SELECT payment_id, firm_id, status, reference, amount, bill_id, unallocated_amount,"
        " returned_amount, returned_reason FROM payments WHERE firm_id = ANY($1::text[])",
        list(firm_ids),
    )
    return [ProjectedPayment(**dict(r)) for r in rows]


async def projected_reversals(
    system: ChaosSystem, firm_ids: Iterable[str]
) -> tuple[list[ProjectedReversal], list[ProjectedReversal]]:
    """Reconciliation's refunds and disputes of these firms."""
    firms = list(firm_ids)
    found = []
    for table, id_column in (("refunds", "refund_id"), ("disputes", "dispute_id")):
        rows = await _fetch(
            system,
            "reconciliation-service",
            f"SELECT payment_id, {id_column} AS reversal_id, amount, status FROM {table}"  # noqa: S608
            " WHERE firm_id = ANY($1::text[])",
            firms,
        )
        found.append([ProjectedReversal(**dict(r)) for r in rows])
    return found[0], found[1]


async def processor_refunds(system: ChaosSystem, payment_ids: Iterable[str]) -> list[ProcessorRefund]:
    """Every refund the sandbox processor holds for these payments (its own tables: no API lists them)."""
    rows = await _fetch(
        system,
        "processor-sandbox",
        "SELECT c.payment_id, r.refund_id, r.amount, r.status FROM refunds r JOIN charges c"
        " ON c.id = r.charge_id WHERE c.payment_id = ANY($1::text[])",
        list(payment_ids),
    )
    return [ProcessorRefund(**dict(r)) for r in rows]


@dataclass(frozen=True)
class AppliedRow:
    bill_id: str
    payment_id: str
    amount: int  # what the payment has on the bill now
    reversed_amount: int = 0  # what refunds, disputes and returns of it gave back to the bill


async def bills(system: ChaosSystem, firm_ids: Iterable[str]) -> tuple[list[BillRow], list[AppliedRow]]:
    """The bills of these firms, and the payments billing applied to them."""
    firms = list(firm_ids)
    rows = await _fetch(
        system,
        "billing-service",
        "SELECT bill_id, firm_id, amount, balance, state FROM bills WHERE firm_id = ANY($1::text[])",
        firms,
    )
    applied = await _fetch(
        system,
        "billing-service",
        "SELECT p.bill_id, p.payment_id, p.amount, p.reversed_amount FROM bill_payments p"
        " JOIN bills b USING (bill_id)"
        " WHERE b.firm_id = ANY($1::text[])",
        firms,
    )
    return [BillRow(**dict(r)) for r in rows], [AppliedRow(**dict(r)) for r in applied]


async def applied(system: ChaosSystem, service: str, event_id: str, at: RecordMetadata) -> bool:
    """The service's consumer applied the event (the record `at`), as its batch transaction recorded it:
    the event id in its inbox, or (reconciliation) its stored offset of the partition past the record."""
    rows = await _fetch(
        system,
        service,
        "SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2"
        " UNION ALL SELECT 1 FROM consumer_offsets"
        "  WHERE consumer = $1 AND topic = $3 AND partition = $4 AND next_offset > $5",
        system.group(service),
        event_id,
        at.topic,
        at.partition,
        at.offset,
    )
    return bool(rows)


async def email_statuses(system: ChaosSystem, payment_id: str, notice: str = "staff") -> list[str]:
    """What became of each email of one kind (the staff's, by default) about the payment in the notifier's
    email outbox."""
    rows = await _fetch(
        system,
        "notifier",
        "SELECT status FROM outgoing_emails WHERE payment_id = $1 AND notice = $2",
        payment_id,
        notice,
    )
    return [r["status"] for r in rows]


async def outbox_backlog(system: ChaosSystem, service: str) -> int:
    """Events the service committed and has not published yet."""
    rows = await _fetch(system, service, "SELECT count(*) AS n FROM outbox")
    return int(rows[0]["n"])


async def _fetch(system: ChaosSystem, service: str, query: str, *args: object) -> list[asyncpg.Record]:
    """A query on a service's own tables (its schema first on the search path)."""
    conn = await asyncpg.connect(
        system.infra.database_url, server_settings={"search_path": system.schema(service)}
    )
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


@dataclass(frozen=True)
class Mail:
    to: str
    message_id: str
    event_id: str


def mails(maildir: Path, recipients: set[str]) -> list[Mail]:
    """The headers of every email the sink received for these recipients (one entry per copy received)."""
    parser = BytesHeaderParser()
    found = []
    for path in maildir.glob("*.eml"):
        headers = parser.parsebytes(path.read_bytes())
        to = str(headers["To"] or "").strip()
        if to in recipients:
            found.append(
                Mail(to, str(headers["Message-ID"]).strip(), str(headers["X-Paylinks-Event-Id"]).strip())
            )
    return found


@dataclass(frozen=True)
class Evidence:
    events: list[ConsumerRecord]  # payment.events and billing.events records of the firms
    dead_letters: list[ConsumerRecord]  # records of the firms on any dead-letter topic
    projection: list[ProjectedPayment]
    bills: list[BillRow]
    applied: list[AppliedRow]
    mails: list[Mail]
    lag: dict[str, int]
    trust: TrustEvidence = field(default_factory=TrustEvidence)
    outboxes: dict[str, int] = field(default_factory=dict)  # per service: events not yet published
    refunds: list[ProjectedReversal] = field(default_factory=list)  # reconciliation's
    disputes: list[ProjectedReversal] = field(default_factory=list)  # reconciliation's
    processor_refunds: list[ProcessorRefund] = field(default_factory=list)
    card_data: CardDataScan | None = None  # the card-data scan, once the system is quiet (settle)


def of_firms(records: list[ConsumerRecord], firm_ids: set[str]) -> list[ConsumerRecord]:
    return [r for r in records if header(r, "ce_firmid") in firm_ids]


async def gather(system: ChaosSystem, firm_ids: set[str], recipients: set[str]) -> Evidence:
    bootstrap = system.infra.bootstrap
    events = of_firms(await read_topics(bootstrap, [Topic.PAYMENT, Topic.BILLING]), firm_ids)
    dead = of_firms(await read_topics(bootstrap, [dlq_topic(t) for t in ALL_TOPICS]), firm_ids)
    bill_rows, applied = await bills(system, firm_ids)
    projection = await projected_payments(system, firm_ids)
    refunds, disputes = await projected_reversals(system, firm_ids)
    return Evidence(
        events=events,
        dead_letters=dead,
        projection=projection,
        bills=bill_rows,
        applied=applied,
        mails=mails(system.config.maildir, recipients),
        lag=await consumer_lag(system),
        trust=await trust_evidence(system, firm_ids),
        outboxes={service: await outbox_backlog(system, service) for service in CONSUMED},  # event stores
        refunds=refunds,
        disputes=disputes,
        processor_refunds=await processor_refunds(system, [p.payment_id for p in projection]),
    )


async def card_data(system: ChaosSystem) -> CardDataScan:
    """Everything the run left behind, scanned for the test card and bank numbers the payers' browsers sent
    to the processor (paylinks_runtime.card_data): every process's log file (the sandbox processor's and the
    replicas' included), every table of the five schemas, every record on the contract and dead-letter
    topics from offset 0 (the suite's own broker), every email in the sink's maildir."""
    scan = CardDataScan()
    scan.logs((system.config.home / "logs").glob("*.log"))
    await scan.tables(system.infra.database_url, system.config.schemas.values())
    scan.records(await read_topics(system.infra.bootstrap, contract_topics()))
    scan.emails(system.config.maildir)
    return scan


async def trust_evidence(system: ChaosSystem, firm_ids: set[str]) -> TrustEvidence:
    """The firms' bank account kinds and payouts from the topics, and each trust account's reconciliation."""
    bootstrap = system.infra.bootstrap
    records = of_firms(await read_topics(bootstrap, [Topic.LINK, Topic.PAYOUT]), firm_ids)
    kinds = {
        str(data["bank_account_id"]): str(data["kind"])
        for r in records
        if header(r, "ce_type") == "BankAccountRegistered"
        for data in [json.loads(r.value)]
    }
    conn = await asyncpg.connect(
        system.infra.database_url, server_settings={"search_path": system.schema("reconciliation-service")}
    )
    try:
        balances = await trust_balances(conn, firm_ids)
    finally:
        await conn.close()
    payouts = [r for r in records if header(r, "ce_type") == "PayoutPaid"]
    return TrustEvidence(account_kinds=kinds, payouts=payouts, balances=balances)
