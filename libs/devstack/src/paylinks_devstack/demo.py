"""`make demo`: brings the stack up and walks the product's story, printing what a person wants to see."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from paylinks_events.money import format_money
from paylinks_runtime.settings import ServiceSettings

from . import practice
from .client import ECHECK_RETURNED, TEST_CARD, PaylinksClient, token_of
from .demo_money import MoneyAfterPayment
from .mailbox import Mailbox
from .stack import Stack, StackConfig
from .up import workspace_addresses

CATCH_UP_STALL = 120.0  # seconds without a record applied before the demo gives up waiting
CATCH_UP_REPORT_EVERY = 5.0


def money(minor: int) -> str:
    return format_money(minor, "USD")


def section(title: str) -> None:
    print(f"\n── {title} " + "─" * max(0, 76 - len(title)), flush=True)


def say(text: str) -> None:
    print(f"   {text}", flush=True)


@dataclass
class Outcome:
    what: str
    amount: int
    method: str
    result: str
    emails: list[str] = field(default_factory=list)


class Story:
    def __init__(self, stack: Stack, output: Path) -> None:
        settings = ServiceSettings()
        self.stack = stack
        self.output = output
        self.firm = f"firm-hartley-quinn-{uuid.uuid4().hex[:6]}"
        self.api = PaylinksClient(stack.config, self.firm, settings.auth_jwt_secret)
        self.bootstrap = settings.kafka_bootstrap_servers
        self.mail = Mailbox(stack.config.maildir)
        self.outcomes: list[Outcome] = []
        self.ids: dict[str, str] = {}

    async def run(self) -> None:
        try:
            await self.firm_and_accounts()
            await self.practice_records()
            await self.account_link_and_qr()
            await self.card_payment_through_the_link()
            await self.staff_links_the_payment()
            await self.bill_paid_in_two_parts()
            await self.voided_bill()
            await self.returned_echeck()
            await MoneyAfterPayment(self, section, say).run()
            self.summary()
        finally:
            await self.api.close()

    async def firm_and_accounts(self) -> None:
        section("1. A law firm and its two bank accounts")
        say(f"firm: Hartley & Quinn LLP  (firm_id {self.firm}; staff and admin act with signed JWTs)")
        for key, name, kind in (
            ("trust", "IOLTA Client Trust", "trust"),
            ("operating", "Operating Account", "operating"),
        ):
            account = await self.api.call(
                "POST", "link-service", "/v1/bank-accounts", expect=201, json={"name": name, "kind": kind}
            )
            self.ids[key] = account["bank_account_id"]
            say(f"registered {kind:<9} account '{name}'  -> {account['bank_account_id']}")
        profile = {"display_name": "Hartley & Quinn LLP", "fee_bank_account_id": self.ids["operating"]}
        await self.api.call("PUT", "link-service", "/v1/firm", expect=200, json=profile)
        say("firm profile: payers see 'Hartley & Quinn LLP'; processing fees come from the operating account")
        await self.api.call(
            "PUT",
            "notifier",
            "/v1/notification-recipients",
            expect=200,
            json={"emails": ["billing@hartleyquinn.example"]},
        )
        say("payment emails go to billing@hartleyquinn.example")

    async def practice_records(self) -> None:
        section("2. Clients and matters arrive from the practice-management system (practice.events)")
        f = self.firm
        self.ids |= {
            "dana": f"contact-{uuid.uuid4().hex[:8]}",
            "marcus": f"contact-{uuid.uuid4().hex[:8]}",
            "estate": f"matter-{uuid.uuid4().hex[:8]}",
            "lawsuit": f"matter-{uuid.uuid4().hex[:8]}",
        }
        events = [
            practice.contact(f, self.ids["dana"], "Dana Whitfield", "dana@example.com"),
            practice.contact(f, self.ids["marcus"], "Marcus Lee", "marcus@example.com"),
            practice.matter(
                f, self.ids["estate"], self.ids["dana"], "Whitfield Estate Planning", "2026-0042"
            ),
            practice.matter(
                f, self.ids["lawsuit"], self.ids["marcus"], "Lee v. Northwind Logistics", "2026-0057"
            ),
        ]
        await practice.publish(self.bootstrap, list(events))
        say("Dana Whitfield   — matter 2026-0042 Whitfield Estate Planning")
        say("Marcus Lee       — matter 2026-0057 Lee v. Northwind Logistics")

    async def account_link_and_qr(self) -> None:
        section("3. The trust account's secure payment link and its QR code")
        trust = self.ids["trust"]
        link = await self.api.call(
            "POST", "link-service", f"/v1/bank-accounts/{trust}/payment-link", expect=200
        )
        again = await self.api.call(
            "POST", "link-service", f"/v1/bank-accounts/{trust}/payment-link", expect=200
        )
        self.ids["trust_link"] = link["url"]
        say(f"payment link: {link['url']}")
        say(
            f"asked again, the same link: {again['url'] == link['url']}"
            "  (it can never be cancelled or expire)"
        )
        self.output.mkdir(parents=True, exist_ok=True)
        for fmt in ("png", "pdf"):
            image = await self.api.call(
                "GET",
                "link-service",
                f"/v1/bank-accounts/{trust}/qr-code",
                params={"format": fmt},
                expect=200,
            )
            path = self.output / f"trust-account-qr.{fmt}"
            path.write_bytes(image)
            say(f"QR code ({fmt.upper()}, {len(image):,} bytes): {path}")

    async def card_payment_through_the_link(self) -> None:
        section("4. Dana opens the link and pays $1,250.00 by card (typing her matter number)")
        token = token_of(self.ids["trust_link"])
        page = await self.api.pay_page(token)
        say(f"GET /v1/pay/<token> -> pay {page['firm_name']}; card details go to {page['processor']['url']}")
        card = await self.api.tokenize(token, {"type": "card", "card": TEST_CARD})
        say(f"her browser: POST {page['processor']['url']}/v1/payment_methods (publishable key) -> {card}")
        body = {
            "amount": 125000,
            "method": "card",
            "reference": "2026-0042",
            "payer": {"name": "Dana Whitfield", "email": "dana@example.com"},
            "payment_method": card,
        }
        response = await self.api.post_payment(token, body)
        payment = response.json()
        self.ids["dana_payment"] = payment["payment_id"]
        say(f"POST /v1/pay/<token>/payments (the token only) -> {response.status_code} {payment}")
        first = await self.mail.wait_for("Dana Whitfield")
        say(f'email 1 to {first.to}: "{first.subject}"')
        second = await self.mail.wait_for("Dana Whitfield", "ready to link")
        say(f'email 2 to {second.to}: "{second.subject}"')
        say(f"  button 'Link to a client or matter' -> {second.button_url}")
        self.outcomes.append(
            Outcome("Dana, trust link, card", 125000, "card", "", [first.subject, second.subject])
        )

    async def staff_links_the_payment(self) -> None:
        section("5. Staff see it among unlinked payments and link it to the matter")
        payment_id = self.ids["dana_payment"]
        listing = await self.api.call(
            "GET", "reconciliation-service", "/v1/unlinked-payments", params={"status": "ready"}
        )
        mine = [p for p in listing["items"] if p["payment_id"] == payment_id]
        say(
            f"unlinked and ready: {money(mine[0]['amount'])} from {mine[0]['payer']['name']}"
            if mine
            else "unlinked list does not show it yet"
        )
        linked = await self.api.call(
            "POST",
            "reconciliation-service",
            f"/v1/payments/{payment_id}/link",
            json={"matter_id": self.ids["estate"]},
            expect=200,
        )
        say(f"linked to matter 2026-0042: status {linked['status']}")
        again = await self.api.raw(
            "POST",
            "reconciliation-service",
            f"/v1/payments/{payment_id}/link",
            json={"matter_id": self.ids["estate"]},
        )
        say(f"linking it a second time -> {again.status_code} ({again.json()['error']['message']})")
        history = await self.api.call("GET", "reconciliation-service", f"/v1/payments/{payment_id}/history")
        for item in history["items"]:
            say(f"  history: {_history_line(item)}")
        self.outcomes[-1].result = f"linked to matter 2026-0042 ({linked['status']})"

    async def bill_paid_in_two_parts(self) -> None:
        section("6. A $3,000.00 bill for Marcus, its payment link, paid in two parts")
        bill = await self.api.issue_bill(self.ids["lawsuit"], self.ids["marcus"], 300000)
        bill_id = bill["bill_id"]
        say(f"bill {bill_id}: {bill['state']}, balance {money(bill['balance'])}")
        url = await self.api.bill_link(bill_id, self.ids["operating"])
        token = token_of(url)
        say(f"bill payment link: {url}")
        page = await self.api.pay_page(token)
        say(f"the client sees: {page['kind']} link, {page['status']}, amount due {money(page['amount_due'])}")
        for amount in (100000, 200000):
            response = await self.api.pay(token, amount, "Marcus Lee")
            say(f"Marcus pays {money(amount)} -> {response.status_code}")
            expected = "partially_paid" if amount == 100000 else "paid"
            state = await self.api.when(partial(self.api.bill, bill_id), "state", expected)
            say(f"  bill is now {state['state']}, balance {money(state['balance'])}")
            self.outcomes.append(
                Outcome("Marcus, bill link, card", amount, "card", f"applied to bill ({expected})")
            )
        refused = await self.api.pay(token, 5000, "Marcus Lee")
        say(f"paying the paid bill again -> {refused.status_code} ({refused.json()['error']['message']})")

    async def voided_bill(self) -> None:
        section("7. Another bill is voided: its link refuses payment")
        bill = await self.api.issue_bill(self.ids["estate"], self.ids["dana"], 45000)
        token = token_of(await self.api.bill_link(bill["bill_id"], self.ids["operating"]))
        await self.api.call("POST", "billing-service", f"/v1/bills/{bill['bill_id']}/void", expect=200)
        say(f"bill {bill['bill_id']} voided")
        page = await self.api.when(partial(self.api.pay_page, token), "status", "void")
        say(f"the link now shows status '{page['status']}'")
        refused = await self.api.pay(token, 45000, "Dana Whitfield")
        say(f"Dana tries to pay -> {refused.status_code} ({refused.json()['error']['message']})")
        self.outcomes.append(
            Outcome("Dana, voided bill link", 45000, "card", f"refused ({refused.status_code})")
        )

    async def returned_echeck(self) -> None:
        section("8. An eCheck through the QR code is returned by the bank (R01)")
        response = await self.api.pay(
            token_of(self.ids["trust_link"]),
            80000,
            "Priya Natarajan",
            method="echeck",
            bank=ECHECK_RETURNED,
            via_qr=True,
        )
        payment_id = response.json()["payment_id"]
        say(f"eCheck accepted -> {response.status_code} {response.json()}")
        failed = await self.mail.wait_for("Priya Natarajan", "R01", timeout=90)
        say(f'email to {failed.to}: "{failed.subject}"')
        status = await self.api.when(partial(self.api.payment, payment_id), "status", "failed")
        say(f"reconciliation shows the payment as '{status['status']}'")
        self.outcomes.append(
            Outcome("Priya, QR code, eCheck", 80000, "echeck", "returned (R01)", [failed.subject])
        )

    def record(self, what: str, amount: int, method: str, result: str, emails: list[str]) -> None:
        self.outcomes.append(Outcome(what, amount, method, result, emails))

    def summary(self) -> None:
        section("Summary")
        print(f"   {'payment':<28} {'amount':>11}  {'method':<7} result")
        for o in self.outcomes:
            print(f"   {o.what:<28} {money(o.amount):>11}  {o.method:<7} {o.result}")
        mails = self.mail.all()
        print(f"\n   {len(mails)} emails in {self.mail.maildir}")
        print(f"   service logs in {self.stack.config.home / 'logs'}; QR codes in {self.output}")
        print()
        for line in workspace_addresses(self.stack.config, self.firm):
            print(f"   {line}")


def _history_line(item: dict[str, Any]) -> str:
    who = item.get("by") or item.get("actor") or item.get("linked_by") or ""
    when = item.get("at") or item.get("occurred_at") or ""
    return " ".join(
        str(x) for x in (item.get("status") or item.get("type") or item.get("event"), who, when) if x
    )


async def catch_up(stack: Stack) -> None:
    """Let the services first apply what earlier runs (the tests', other demos') left on the topics: the
    story's emails would otherwise queue behind it and seem lost. Gives up once nothing moved for a while."""
    last: dict[str, int | None] = {}
    moved_at, told_at = time.monotonic(), -CATCH_UP_REPORT_EVERY
    while True:
        backlog = await stack.backlog()
        if all(lag == 0 for lag in backlog.values()):
            return
        now = time.monotonic()
        if backlog != last:
            last, moved_at = backlog, now
        behind = sum(lag or 0 for lag in backlog.values())
        if now - moved_at > CATCH_UP_STALL:
            raise RuntimeError(
                f"the services applied none of {behind:,} earlier records in {CATCH_UP_STALL:.0f} s;"
                f" see {stack.config.home / 'logs'}"
            )
        if behind and now - told_at >= CATCH_UP_REPORT_EVERY:
            told_at = now
            say(f"catching up on {behind:,} records earlier runs left (`make clean` starts empty)")
        await asyncio.sleep(1.0)


async def run(home: Path, output: Path) -> None:
    stack = Stack(StackConfig(home=home))
    section(
        "Starting the stack: four services, the sandbox processor and an SMTP sink, on Kafka and PostgreSQL"
    )
    await stack.start()
    for service in stack.processes:
        if service != "smtp-sink":
            say(f"{service:<24} {stack.config.url(service)}  (ready; log {stack.log_path(service)})")
    try:
        await catch_up(stack)
        await Story(stack, output).run()
    finally:
        await stack.stop()


def main() -> None:
    home = Path(os.environ.get("PAYLINKS_HOME", ".local")) / "demo"
    output = Path(os.environ.get("DEMO_OUTPUT", "demo-output")).resolve()
    try:
        asyncio.run(run(home, output))
    except Exception as exc:  # the demo explains itself; a traceback helps nobody watching it
        print(f"\nThe demo stopped: {exc}", file=sys.stderr)
        sys.exit(1)
