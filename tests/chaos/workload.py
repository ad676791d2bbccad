"""What the load pays into (firms with a trust account, its link, bills with links, staff recipients) and the
payments it makes, each with a known client-side id: its Idempotency-Key, also sent as the reference."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from paylinks_devstack import practice
from paylinks_devstack.client import ECHECK_OK, ECHECK_RETURNED, TEST_CARD, PaylinksClient, token_of
from paylinks_runtime.settings import DEV_PROCESSOR_API_KEY, DEV_PROCESSOR_PUBLISHABLE_KEY

from .system import ChaosSystem

# The kinds of payment, their share of the load, and how each must end in reconciliation.
ACCOUNT_CARD, ACCOUNT_ECHECK, ACCOUNT_RETURNED, BILL_CARD = (
    "account card",
    "account echeck",
    "echeck R01",
    "bill card",
)
MIX = {ACCOUNT_CARD: 50, ACCOUNT_ECHECK: 10, ACCOUNT_RETURNED: 15, BILL_CARD: 25}
RECEIVED, PROCESSED, FAILED = "PaymentReceived", "PaymentProcessed", "PaymentFailed"

# Money that goes back, once a payment is processed: what the load does to a share of them, by kind.
# Refunds: the whole amount (asked again with the same key), two parts at once, or two asks at once that
# together exceed the payment (one must be refused). Disputes won or lost, and the bank's late return of an
# eCheck. A won dispute is not played on bill payments: what it applies again may find the bill paid by then.
REFUND_FULL, REFUND_PARTS, REFUND_RACE = "full refund", "two partial refunds at once", "two refunds racing"
DISPUTE_WON, DISPUTE_LOST, BANK_RETURN = "dispute won", "dispute lost", "echeck returned late"
REVERSALS = {
    ACCOUNT_CARD: (REFUND_FULL, REFUND_PARTS, REFUND_RACE, DISPUTE_WON, DISPUTE_LOST),
    BILL_CARD: (REFUND_FULL, REFUND_PARTS, REFUND_RACE, DISPUTE_LOST),
    ACCOUNT_ECHECK: (BANK_RETURN,),
}
REVERSED_SHARE = 0.3
RETURN_REASON = "R01"


def recipient(firm_id: str) -> str:
    return f"staff@{firm_id}.example"


def payer(firm_id: str) -> str:
    """The payer's address on the firm's payments: receipts and refund notices go there."""
    return f"payer@{firm_id}.example"


@dataclass
class Firm:
    api: PaylinksClient
    account_id: str
    account_token: str
    matter_id: str
    contact_id: str
    bills: dict[str, str] = field(default_factory=dict)  # bill_id -> pay token

    @property
    def firm_id(self) -> str:
        return self.api.firm_id


@dataclass(frozen=True)
class PlannedPayment:
    key: str  # the Idempotency-Key; the payment's reference is derived from it
    firm_id: str
    token: str
    kind: str
    amount: int
    bill_id: str | None = None
    reversal: str | None = None  # what the load does to the money once the payment is processed
    payer_emailed: bool = True  # the payer gave an address (payer(firm_id)): receipts and refund notices

    @property
    def reference(self) -> str:
        return f"chaos-{self.key}"

    @property
    def outcome(self) -> str:
        return FAILED if self.kind == ACCOUNT_RETURNED else PROCESSED

    @property
    def expected_status(self) -> str:
        """In reconciliation, once settled."""
        return "failed" if self.kind == ACCOUNT_RETURNED else "ready"

    @property
    def by_card(self) -> bool:
        return self.kind in (ACCOUNT_CARD, BILL_CARD)

    def payment_method(self) -> dict[str, Any]:
        """What the payer's browser sends to the processor (never to link-service)."""
        if self.by_card:
            return {"type": "card", "card": TEST_CARD}
        bank = ECHECK_RETURNED if self.kind == ACCOUNT_RETURNED else ECHECK_OK
        return {"type": "us_bank_account", "us_bank_account": {**bank, "account_holder_name": "Chaos Payer"}}

    def body(self, payment_method: str) -> dict[str, Any]:
        """The pay request with the processor's token: the same for every retry of this payment."""
        body: dict[str, Any] = {
            "amount": self.amount,
            "payer": {"name": "Chaos Payer", "email": payer(self.firm_id)},
            "reference": self.reference,
            "payment_method": payment_method,
        }
        if self.by_card:
            return body | {"method": "card"}
        return body | {"method": "echeck", "authorization": {"accepted": True}}

    def refunds(self) -> list[tuple[str, int]]:
        """The refunds the load asks for (Idempotency-Key, amount), all at once."""
        third, most = self.amount // 3, self.amount * 3 // 5
        asks = {REFUND_FULL: [self.amount], REFUND_PARTS: [third, third], REFUND_RACE: [most, most]}
        return [
            (f"refund-{i}-{self.key}", amount) for i, amount in enumerate(asks.get(self.reversal or "", []))
        ]

    @property
    def dispute_outcome(self) -> str | None:
        return {DISPUTE_WON: "won", DISPUTE_LOST: "lost"}.get(self.reversal or "")


class TokenizationRefused(Exception):
    """The processor answered the tokenization with something else than 201 (its own database down, say)."""

    def __init__(self, status_code: int, text: str) -> None:
        super().__init__(f"HTTP {status_code}: {text}")
        self.status_code = status_code


async def tokenize(http: httpx.AsyncClient, processor_url: str, plan: PlannedPayment) -> str:
    """Tokenize the plan's card or bank account at the processor, as the pay page does in a browser."""
    response = await http.post(
        f"{processor_url}/v1/payment_methods",
        json=plan.payment_method(),
        headers={"Authorization": f"Bearer {DEV_PROCESSOR_PUBLISHABLE_KEY}"},
    )
    if response.status_code != 201:
        raise TokenizationRefused(response.status_code, response.text)
    return str(response.json()["id"])


async def pay_body(system: ChaosSystem, plan: PlannedPayment) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        return plan.body(await tokenize(http, system.url("processor-sandbox"), plan))


async def open_firm(system: ChaosSystem, label: str, bills: int = 0, bill_amount: int = 0) -> Firm:
    """A firm with a trust account and its link (and an operating account for the processing fees), staff
    recipients, one client and matter, and bills."""
    api = system.client(f"firm-{label}-{uuid.uuid4().hex[:8]}")
    await api.register_account("Operating", "operating")
    account_id = await api.register_account("Client Trust", "trust")
    await api.call(
        "PUT", "notifier", "/v1/notification-recipients", json={"emails": [recipient(api.firm_id)]}
    )
    contact_id, matter_id = f"c-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    await practice.publish(
        system.infra.bootstrap,
        [
            practice.contact(api.firm_id, contact_id, "Dana Client", "dana@example.com"),
            practice.matter(api.firm_id, matter_id, contact_id, "Client Estate", f"M-{label}"),
        ],
    )
    firm = Firm(api, account_id, token_of(await api.account_link(account_id)), matter_id, contact_id)
    for _ in range(bills):
        await add_bill(firm, bill_amount)
    return firm


async def add_bill(firm: Firm, amount: int) -> str:
    bill = await firm.api.issue_bill(firm.matter_id, firm.contact_id, amount)
    firm.bills[bill["bill_id"]] = token_of(await firm.api.bill_link(bill["bill_id"], firm.account_id))
    return str(bill["bill_id"])


class PaymentPlanner:
    """Random payments following MIX; bill payments are small enough that a bill takes several."""

    def __init__(self, firms: list[Firm], rng: random.Random) -> None:
        self._firms = firms
        self._rng = rng
        self._kinds = list(MIX)
        self._weights = list(MIX.values())

    def next(self) -> PlannedPayment:
        firm = self._rng.choice(self._firms)
        kind = self._rng.choices(self._kinds, self._weights)[0]
        key = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        if kind == BILL_CARD and firm.bills:
            bill_id = self._rng.choice(sorted(firm.bills))
            amount = self._rng.randrange(2_000, 15_000)
            token = firm.bills[bill_id]
            return PlannedPayment(key, firm.firm_id, token, kind, amount, bill_id, self._reversal(kind))
        kind = ACCOUNT_CARD if kind == BILL_CARD else kind
        amount = self._rng.randrange(100, 250_000)
        return PlannedPayment(key, firm.firm_id, firm.account_token, kind, amount, None, self._reversal(kind))

    def _reversal(self, kind: str) -> str | None:
        if kind not in REVERSALS or self._rng.random() >= REVERSED_SHARE:
            return None
        return self._rng.choice(REVERSALS[kind])


async def sandbox_charges(system: ChaosSystem, payment_id: str) -> list[dict[str, Any]]:
    """Every charge the sandbox processor made for the payment (CONTRACT.md section 3)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.get(
            f"{system.url('processor-sandbox')}/v1/sandbox/charges",
            params={"payment_id": payment_id},
            headers={"Authorization": f"Bearer {DEV_PROCESSOR_API_KEY}"},
        )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])
