"""The projection of unlinked payments on the real broker: events of several topics, in any order, and the
staff list, totals and payment view built from them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from paylinks_events import Envelope, Payer
from paylinks_runtime import inbox_consumer
from paylinks_runtime.testing import auth_header, eventually
from reconciliation_service import projection_store
from reconciliation_service.projection_store import COPY_FROM_ROWS


async def listed_ids(firm, **params) -> list[str]:  # type: ignore[no-untyped-def]
    response = await firm.get("/v1/unlinked-payments", **params)
    assert response.status_code == 200, response.text
    return [item["payment_id"] for item in response.json()["items"]]


async def test_a_payment_is_pending_when_received_then_ready_when_processed(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account(name="Client trust", kind="trust")
    received = firm.received(account.bank_account_id, reference="2026-0042")
    await firm.publish(account, received)
    pending = await firm.wait_for_status(received.payment_id, "pending")
    assert pending["payer"] == {"name": "Pat Payer", "email": "pat@example.com"}
    assert (pending["amount"], pending["currency"], pending["method"]) == (12500, "USD", "card")
    assert (pending["card_brand"], pending["last4"]) == ("visa", "4242")

    await firm.publish(firm.processed(received))
    ready = await firm.wait_for_status(received.payment_id, "ready")
    assert ready["processed_at"] is not None
    assert ready["bank_account_name"] == "Client trust"
    assert ready["bank_account_kind"] == "trust"
    assert await listed_ids(firm) == [received.payment_id]


async def test_processed_before_received_converges_to_the_same_payment(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    received = firm.received(account.bank_account_id)
    await firm.publish(firm.processed(received), account)  # the processing outruns the receipt
    await firm.wait_for_status(received.payment_id, "ready")
    assert await listed_ids(firm) == []  # not listed until the receipt tells who paid

    await firm.publish(received)
    await eventually(lambda: listed_ids(firm))
    payment = await firm.payment(received.payment_id)
    assert payment["status"] == "ready"
    assert payment["payer"]["name"] == "Pat Payer"
    assert payment["received_at"] is not None
    assert payment["processed_at"] is not None


async def test_a_failed_payment_leaves_the_list_and_shows_why(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    received = firm.received(account.bank_account_id, method="echeck", card_brand=None, last4=None)
    await firm.publish(account, received, firm.failed(received, "R01"))
    failed = await firm.wait_for_status(received.payment_id, "failed")
    assert failed["failure_reason"] == "R01"
    assert await listed_ids(firm) == []
    assert await listed_ids(firm, status="failed") == [received.payment_id]


async def test_a_bill_payment_is_listed_only_once_unallocated(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    applied = firm.received(account.bank_account_id, bill_id="bill-1", source="bill_link")
    over = firm.received(account.bank_account_id, bill_id="bill-2", source="bill_link", amount=30000)
    await firm.publish(account, applied, firm.processed(applied), over, firm.processed(over))
    await firm.wait_for_status(over.payment_id, "ready")
    await firm.wait_for_status(applied.payment_id, "ready")
    assert await listed_ids(firm) == []

    await firm.publish(firm.unallocated(over, amount=5000))
    await eventually(lambda: listed_ids(firm))
    (item,) = (await firm.get("/v1/unlinked-payments")).json()["items"]
    assert (item["payment_id"], item["amount"], item["unallocated_amount"]) == (over.payment_id, 30000, 5000)


async def test_the_list_filters_by_status_and_bank_account(firm) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(kind="trust"), firm.bank_account()
    pending = firm.received(trust.bank_account_id)
    await firm.publish(trust, operating, pending)
    ready = await firm.ready_payment(operating.bank_account_id)
    await firm.wait_for_status(pending.payment_id, "pending")

    assert set(await listed_ids(firm)) == {pending.payment_id, ready.payment_id}
    assert await listed_ids(firm, status="pending") == [pending.payment_id]
    assert await listed_ids(firm, status="ready") == [ready.payment_id]
    assert await listed_ids(firm, bank_account_id=trust.bank_account_id) == [pending.payment_id]
    assert await listed_ids(firm, bank_account_id=trust.bank_account_id, status="ready") == []


async def test_pages_follow_the_cursor_and_stay_stable_when_payments_arrive(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    start = datetime.now(UTC) - timedelta(hours=1)
    payments = [
        firm.received(account.bank_account_id, received_at=start + timedelta(minutes=i)) for i in range(5)
    ]
    await firm.publish(account, *payments)
    await eventually(lambda: _count(firm, 5))

    first = (await firm.get("/v1/unlinked-payments", limit=2)).json()
    assert [i["payment_id"] for i in first["items"]] == [p.payment_id for p in payments[:2]]
    earlier = firm.received(account.bank_account_id, received_at=start - timedelta(minutes=1))
    later = firm.received(account.bank_account_id, received_at=start + timedelta(minutes=30))
    await firm.publish(earlier, later)
    await eventually(lambda: _count(firm, 7))

    seen, cursor = [i["payment_id"] for i in first["items"]], first["next_cursor"]
    while cursor:
        page = (await firm.get("/v1/unlinked-payments", limit=2, cursor=cursor)).json()
        seen += [i["payment_id"] for i in page["items"]]
        cursor = page["next_cursor"]
    # no payment twice, none skipped; the one that arrived behind the cursor waits for the next listing
    assert seen == [p.payment_id for p in [*payments, later]]


async def _count(firm, expected: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await listed_ids(firm, limit=200)) == expected


async def test_bad_list_parameters_are_422_with_a_reason(firm) -> None:  # type: ignore[no-untyped-def]
    for params, code in (
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "WyJ4IiwieSJd"}, "invalid_cursor"),  # base64 of ["x","y"]: well-formed, not a position
        ({"status": "linked"}, "validation_error"),
        ({"limit": 0}, "validation_error"),
        ({"limit": 201}, "validation_error"),
    ):
        response = await firm.get("/v1/unlinked-payments", **params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]


async def test_items_show_how_long_they_waited_and_totals_add_up(firm) -> None:  # type: ignore[no-untyped-def]
    trust, operating = firm.bank_account(name="Trust", kind="trust"), firm.bank_account(name="Operating")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old = firm.received(trust.bank_account_id, amount=1000, received_at=hour_ago)
    new = firm.received(trust.bank_account_id, amount=2000)
    await firm.publish(trust, operating, old, firm.processed(old), new, firm.processed(new))
    await firm.ready_payment(operating.bank_account_id, amount=500)
    await firm.publish(firm.received(operating.bank_account_id, amount=700))
    await eventually(lambda: _count(firm, 4))

    items = {i["payment_id"]: i for i in (await firm.get("/v1/unlinked-payments")).json()["items"]}
    assert items[old.payment_id]["waiting_seconds"] >= 3600
    assert items[new.payment_id]["waiting_seconds"] < 3600
    totals = (await firm.get("/v1/unlinked-payments/totals")).json()["items"]
    summary = {(t["bank_account_name"], t["status"]): (t["count"], t["amount"]) for t in totals}
    assert summary == {
        ("Trust", "ready"): (2, 3000),
        ("Operating", "ready"): (1, 500),
        ("Operating", "pending"): (1, 700),
    }
    trust_ready = next(t for t in totals if t["bank_account_name"] == "Trust")
    assert trust_ready["max_waiting_seconds"] >= 3600
    assert trust_ready["currency"] == "USD"


async def test_the_payer_email_and_reference_suggest_a_contact_and_a_matter(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    contact = firm.contact(name="Dana Client", email="Dana@Example.com")
    by_number = firm.matter(contact.contact_id, name="Estate of Smith", number="2026-0042")
    by_name = firm.matter(contact.contact_id, name="Jones v. Acme")
    unrelated = firm.matter(contact.contact_id, name="Other", number="2026-0099")
    await firm.publish(account, contact, by_number, by_name, unrelated)
    numbered = await firm.ready_payment(
        account.bank_account_id, reference=" 2026-0042 ", payer=Payer(name="Dana", email="dana@example.COM")
    )
    named = await firm.ready_payment(account.bank_account_id, reference="jones v. acme")
    nothing = await firm.ready_payment(account.bank_account_id, reference=None)

    items = {i["payment_id"]: i for i in (await firm.get("/v1/unlinked-payments")).json()["items"]}
    assert {(s["kind"], s["id"], s["reason"]) for s in items[numbered.payment_id]["suggestions"]} == {
        ("contact", contact.contact_id, "payer_email"),
        ("matter", by_number.matter_id, "reference"),
    }
    assert [(s["kind"], s["id"]) for s in items[named.payment_id]["suggestions"]] == [
        ("matter", by_name.matter_id)
    ]
    assert items[nothing.payment_id]["suggestions"] == []
    assert (await firm.payment(numbered.payment_id))["suggestions"] == items[numbered.payment_id][
        "suggestions"
    ]


async def test_another_firms_payment_is_404_and_never_listed(firm, other_firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    mine = await firm.ready_payment(account.bank_account_id)
    for path in (
        f"/v1/payments/{mine.payment_id}",
        f"/v1/payments/{mine.payment_id}/history",
        "/v1/payments/no-such-payment",
    ):
        response = await other_firm.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert await listed_ids(other_firm) == []
    assert (await other_firm.get("/v1/unlinked-payments/totals")).json()["items"] == []


async def test_the_api_needs_a_staff_token(client, firm) -> None:  # type: ignore[no-untyped-def]
    paths = (
        "/v1/unlinked-payments",
        "/v1/unlinked-payments/totals",
        "/v1/payments/p",
        "/v1/payments/p/history",
    )
    for path in paths:
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers={"Authorization": "Bearer nonsense"})).status_code == 401
        no_role = await client.get(path, headers=auth_header(firm.id, roles=("viewer",)))
        assert no_role.status_code == 403
        assert no_role.json()["error"]["code"] == "forbidden"
    for method in ("POST", "DELETE"):
        response = await client.request(method, "/v1/payments/p/link", json={"matter_id": "m", "reason": "r"})
        assert response.status_code == 401


async def test_a_redelivered_event_has_one_effect(firm) -> None:  # type: ignore[no-untyped-def]
    account = firm.bank_account()
    received = firm.received(account.bank_account_id)
    (envelope,) = await firm.publish(received)
    await firm.publish(account, envelope, Envelope(firm.processed(received), source="/tests"), envelope)
    await firm.wait_for_status(received.payment_id, "ready")
    history = (await firm.get(f"/v1/payments/{received.payment_id}/history")).json()["items"]
    assert [h["type"] for h in history] == ["PaymentReceived", "PaymentProcessed"]
    assert history[0]["event_id"] == envelope.id
    assert history[0]["by"] == "/tests"


async def staged_rows(conn: asyncpg.Connection, row_type: str) -> int:
    """The rows in this session's staging table of that row type (none if it has none), before the commit
    empties it."""
    staged = f"pg_temp.staged_{row_type}"
    if await conn.fetchval("SELECT to_regclass($1)", staged) is None:
        return 0
    return int(await conn.fetchval(f"SELECT count(*) FROM {staged}"))  # noqa: S608 (a name of ours)


@pytest.mark.parametrize(("payments", "says_busy"), [(COPY_FROM_ROWS, True), (COPY_FROM_ROWS - 1, False)])
async def test_a_batch_copied_says_the_database_is_busy_before_it_writes(  # type: ignore[no-untyped-def]
    firm, pool: asyncpg.Pool, payments: int, says_busy: bool
) -> None:
    """The consumer decodes its next batch while the database writes this one (database_busy); a batch too
    small to copy is written statement by statement, and says nothing. Its new rows go straight into their
    tables: nothing staged."""
    account = firm.bank_account()
    envelopes = [Envelope(firm.received(account.bank_account_id), "/test") for _ in range(payments)]
    busy = asyncio.Event()
    told = inbox_consumer._DATABASE_BUSY.set(busy)  # as the consumer does while it applies a batch
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await projection_store.apply(conn, envelopes)
                ids = [e.event.payment_id for e in envelopes]
                written = await conn.fetchval(
                    "SELECT count(*) FROM payments WHERE payment_id = any($1::text[])", ids
                )
                staged = await staged_rows(conn, "received_row") + await staged_rows(conn, "history_row")
            finally:
                await transaction.rollback()
    finally:
        inbox_consumer._DATABASE_BUSY.reset(told)
    assert written == payments
    assert busy.is_set() is says_busy
    assert staged == 0


async def test_a_batch_repeating_an_event_written_before_writes_it_once_and_the_rest(  # type: ignore[no-untyped-def]
    firm, pool: asyncpg.Pool
) -> None:
    """A batch copies its receipts, history and ledger rows straight into their tables at first
    (TableWrite.new_rows). An event written by an earlier batch (published twice) makes that fail; those
    rows are staged and merged instead, skipping what was written: one row of the repeated event, every
    other event's rows, no error."""
    account = firm.bank_account()
    received = [firm.received(account.bank_account_id) for _ in range(COPY_FROM_ROWS)]
    processed = [Envelope(firm.processed(r), "/test") for r in received]
    ids = [r.payment_id for r in received]
    async with pool.acquire() as conn:
        async with conn.transaction():
            await projection_store.apply(conn, processed[:1])  # the repeated event, written before
        async with conn.transaction():
            await projection_store.apply(conn, [*(Envelope(r, "/test") for r in received), *processed])
            staged = await staged_rows(conn, "history_row")
        history = await conn.fetch(
            "SELECT event_id, count(*) AS rows FROM payment_history WHERE payment_id = any($1::text[])"
            " GROUP BY event_id",
            ids,
        )
        movements = await conn.fetchval(
            "SELECT count(*) FROM ledger_movements WHERE payment_id = any($1::text[])", ids
        )
        ready = await conn.fetchval(
            "SELECT count(*) FROM payments WHERE payment_id = any($1::text[]) AND processed_at IS NOT NULL"
            " AND received_at IS NOT NULL",
            ids,
        )
    assert len(history) == 2 * COPY_FROM_ROWS
    assert {row["rows"] for row in history} == {1}
    assert processed[0].id in {row["event_id"] for row in history}
    assert movements == COPY_FROM_ROWS
    assert ready == COPY_FROM_ROWS
    assert staged == 2 * COPY_FROM_ROWS  # merged from staging, the repeated event's row with the rest


async def test_a_payment_processed_is_updated_in_place_without_writing_the_indexes(  # type: ignore[no-untyped-def]
    firm, pool: asyncpg.Pool
) -> None:
    """PaymentProcessed changes no indexed column of a payment, and its page has room for the new version
    (migration 0005): a heap-only update, which adds no entry to any of the table's five indexes. Counted
    by Postgres in the transaction; "nearly all", as other tests' payments share the pages."""
    account = firm.bank_account()
    received = [firm.received(account.bank_account_id) for _ in range(4 * COPY_FROM_ROWS)]
    async with pool.acquire() as conn:
        async with conn.transaction():
            await projection_store.apply(conn, [Envelope(r, "/test") for r in received])
        async with conn.transaction():  # the backend's counts since it last reported them, so a difference
            updated_before, in_place_before = await _payments_updated(conn)
            await projection_store.apply(conn, [Envelope(firm.processed(r), "/test") for r in received])
            updated, in_place = await _payments_updated(conn)
    assert updated - updated_before == len(received)
    assert in_place - in_place_before >= 0.9 * len(received)


async def _payments_updated(conn: asyncpg.Connection) -> tuple[int, int]:
    """Rows of payments updated, and of those the heap-only ones."""
    row = await conn.fetchrow(
        "SELECT pg_stat_get_xact_tuples_updated('payments'::regclass) AS updated,"
        " pg_stat_get_xact_tuples_hot_updated('payments'::regclass) AS in_place"
    )
    return row["updated"], row["in_place"]


async def test_a_payment_s_history_is_written_to_one_index_which_its_read_uses(pool: asyncpg.Pool) -> None:
    """Every applied event writes a history row: one index to write (migration 0006), its key, which is
    also the way a payment's history is read (its firm and payment first)."""
    async with pool.acquire() as conn, conn.transaction():
        indexes = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
            "payment_history",
        )
        await conn.execute("SET LOCAL enable_seqscan = off")  # the plan with an index, whatever the size
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) SELECT event_id, type, at FROM payment_history"
            " WHERE firm_id = 'f' AND payment_id = 'p' ORDER BY at, event_id"
        )
    assert [i["indexname"] for i in indexes] == ["payment_history_pkey"]
    assert '"Index Name": "payment_history_pkey"' in plan
