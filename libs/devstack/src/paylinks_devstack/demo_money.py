"""The demo's second half: money that goes back (a refund, a lost dispute, a late eCheck return) and
trust-safe money (fees from operating, payouts tied to deposits, the three-way trust reconciliation)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from paylinks_events.money import format_money, plain_amount
from paylinks_runtime import card_data
from paylinks_runtime.settings import DEV_PROCESSOR_API_KEY

from .client import ECHECK_LATE_RETURN, TEST_CARD, token_of

if TYPE_CHECKING:
    from .demo import Story

DISPUTED_CARD = {**TEST_CARD, "number": card_data.DISPUTED_CARD}  # the sandbox disputes it, then loses


def money(minor: int) -> str:
    return format_money(minor, "USD")


class MoneyAfterPayment:
    """Chapters 9 to 12, on the firm, accounts, people and payments chapters 1 to 8 set up."""

    def __init__(self, story: Story, section: Callable[[str], None], say: Callable[[str], None]) -> None:
        self.story, self.api, self.mail = story, story.api, story.mail
        self.section, self.say = section, say

    async def run(self) -> None:
        await self.refund()
        await self.lost_dispute()
        await self.late_return()
        await self.deposits_and_trust_reconciliation()

    async def refund(self) -> None:
        self.section("9. Part of Dana's retainer is unearned: an admin refunds $250.00 of her payment")
        payment_id = self.story.ids["dana_payment"]
        path = f"/v1/payments/{payment_id}/refunds"
        body = {"amount": 25000, "reason": "unearned retainer returned to the client"}
        refund = await self.api.call("POST", "link-service", path, json=body, expect=202)
        self.say(f"POST {path} -> 202 {refund}")
        issued = await self.mail.wait_for(f"Refund issued: {money(25000)} to Dana")
        self.say(f'email to {issued.to}: "{issued.subject}"')
        notice = await self.mail.wait_for("Refund from Hartley & Quinn LLP")
        self.say(f'email to Dana ({notice.to}): "{notice.subject}"')
        after = await self.api.when(partial(self.api.payment, payment_id), "refunded_amount", 25000)
        self.say(f"reconciliation: refunded {money(after['refunded_amount'])}, still '{after['status']}'")
        self.story.record("Dana, refund", 25000, "card", "refunded (the fee stays paid)", [issued.subject])

    async def lost_dispute(self) -> None:
        self.section("10. A card payment into trust is disputed by the cardholder, and the dispute is lost")
        token = token_of(self.story.ids["trust_link"])
        response = await self.api.pay(token, 50000, "Owen Park", card=DISPUTED_CARD)
        payment_id = response.json()["payment_id"]
        self.say(f"Owen pays {money(50000)} by card -> {response.status_code}")
        disputed = await self.mail.wait_for(f"Payment disputed: {money(50000)} from Owen", timeout=90)
        self.say(f'email to {disputed.to}: "{disputed.subject}"')
        lost = await self.mail.wait_for("Dispute lost", "Owen", timeout=90)
        self.say(f'email to {lost.to}: "{lost.subject}"')
        view = await self.api.when(partial(self.api.dispute_of, payment_id), "status", "lost", timeout=90)
        self.say(f"reconciliation: dispute {view['status']}, {money(view['amount'])} taken back by the bank")
        self.story.record("Owen, trust link, card", 50000, "card", "disputed, lost", [lost.subject])

    async def late_return(self) -> None:
        self.section("11. An eCheck is processed, then returned by the bank days later (R10)")
        token = token_of(self.story.ids["trust_link"])
        response = await self.api.pay(token, 60000, "Rosa Diaz", method="echeck", bank=ECHECK_LATE_RETURN)
        payment_id = response.json()["payment_id"]
        self.say(f"Rosa pays {money(60000)} by eCheck -> {response.status_code}")
        processed = await self.api.when(partial(self.api.payment, payment_id), "status", "ready", timeout=90)
        self.say(f"processed: reconciliation shows it '{processed['status']}'")
        returned = await self.mail.wait_for(f"Payment returned: {money(60000)} from Rosa", timeout=90)
        self.say(f'email to {returned.to}: "{returned.subject}"')
        view = await self.api.when(partial(self.api.returned_of, payment_id), "reason", "R10", timeout=90)
        self.say(f"reconciliation: returned ({view['reason']}) at {view['returned_at']}")
        self.story.record("Rosa, trust link, eCheck", 60000, "echeck", "returned (R10)", [returned.subject])

    async def deposits_and_trust_reconciliation(self) -> None:
        self.section("12. Month end: payouts arrive as deposits, and the trust account reconciles three ways")
        processor = self.api.config.url("processor-sandbox")
        headers = {"Authorization": f"Bearer {DEV_PROCESSOR_API_KEY}"}
        paid = await self.api.public.post(
            f"{processor}/v1/sandbox/payouts", json={"firm_id": self.story.firm}, headers=headers
        )
        made = {p["payout_id"] for p in paid.json()["payouts"]}
        self.say(f"the processor pays out what has settled -> {paid.status_code} ({len(made)} payouts)")
        await self.api.when(partial(self._arrived, made), "arrived", True, timeout=60)
        trust, operating = self.story.ids["trust"], self.story.ids["operating"]
        for account, name in ((trust, "trust"), (operating, "operating")):
            deposits = await self.api.when(partial(self._deposits, account), "count", 1, timeout=60)
            for deposit in deposits["items"]:
                self.say(f"deposit into {name}: {money(deposit['amount'])} on {deposit['arrival_date']}")
                for line in deposit["lines"]:
                    self.say(
                        f"    {line['type']:<12} {money(line['amount']):>12}  payment {line['payment_id']}"
                    )
        await self._deposits_csv()
        reconciliation = await self.api.call(
            "GET", "reconciliation-service", "/v1/trust-reconciliation", params={"bank_account_id": trust}
        )
        self._print_reconciliation(reconciliation)
        if not reconciliation["balanced"]:
            raise RuntimeError(f"the trust account does not reconcile three ways: {reconciliation}")

    async def _deposits_csv(self) -> None:
        """The bookkeeper's file: one row per deposit line, parsed back and totalled against the JSON."""
        listed = await self.api.call("GET", "reconciliation-service", "/v1/deposits")
        # read after the list, the file holds every deposit listed (a later payout only adds rows)
        document = await self.api.call("GET", "reconciliation-service", "/v1/deposits.csv")
        rows = list(csv.DictReader(io.StringIO(document.decode(), newline="")))
        for deposit in listed["items"]:
            lines = [r for r in rows if r["payout_id"] == deposit["payout_id"]]
            total = sum(Decimal(r["amount"]) for r in lines)
            if total != Decimal(plain_amount(deposit["amount"], deposit["currency"])):
                raise RuntimeError(f"deposits.csv: payout {deposit['payout_id']} lines sum to {total}")
        self.say(
            f"GET /v1/deposits.csv -> {len(rows)} lines of {len(listed['items'])} deposits;"
            " each deposit's lines sum to its amount"
        )

    async def _arrived(self, payout_ids: set[str]) -> dict[str, Any]:
        """Whether reconciliation lists every payout the processor just made as a deposit."""
        found = await self.api.call("GET", "reconciliation-service", "/v1/deposits")
        return {"arrived": payout_ids <= {d["payout_id"] for d in found["items"]}}

    async def _deposits(self, account: str) -> dict[str, Any]:
        found = await self.api.call(
            "GET", "reconciliation-service", "/v1/deposits", params={"bank_account_id": account}
        )
        return {"count": min(len(found["items"]), 1), "items": found["items"]}

    def _print_reconciliation(self, r: dict[str, Any]) -> None:
        self.say(f"trust ledger     {money(r['ledger']):>12}   (payments - refunds - lost - returns)")
        self.say(f"deposited        {money(r['deposited']):>12}   (the bank statement: payouts)")
        self.say(f"in transit       {money(r['in_transit']):>12}")
        names = {
            self.story.ids["estate"]: "matter 2026-0042",
            self.story.ids["lawsuit"]: "matter 2026-0057",
            self.story.ids["dana"]: "Dana Whitfield",
            self.story.ids["marcus"]: "Marcus Lee",
        }
        for client in r["client_ledgers"]:
            who = client.get("matter_id") or client.get("contact_id")
            who = names.get(who, who)
            at_risk = money(client["at_risk"])
            self.say(f"client ledger    {money(client['balance']):>12}   {who} (at risk: {at_risk})")
        self.say(f"unidentified     {money(r['unidentified']):>12}   (not linked to a client yet)")
        self.say(f"balanced: {r['balanced']}  — no processing or dispute fee ever touches the trust account")
