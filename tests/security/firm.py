"""One firm of the run and the steps its staff and its clients take, across the four services.

Each firm has its own id (so its records on the shared topics are told apart) and its own client address
(so the pay endpoints' per-client rate limit of one test does not spill into another)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from paylinks_events import ContactCreated, Envelope, Event, MatterOpened, to_record
from paylinks_runtime.card_data import CVC, OK_ACCOUNT, OK_CARD, ROUTING
from paylinks_runtime.testing import CARD_EXPIRY_YEAR, auth_header, eventually, unique

from .system import System, http_client


def card(number: str = OK_CARD, cvc: str = CVC) -> dict[str, Any]:
    return {"number": number, "exp_month": 12, "exp_year": CARD_EXPIRY_YEAR, "cvc": cvc}


def payment_body(
    amount: Any = 12_500, *, name: str = "Ada Client", reference: str | None = None, **instrument: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": amount,
        "method": "echeck" if "bank" in instrument else "card",
        "payer": {"name": name, "email": "ada@example.com"},
        "reference": reference,
    }
    return body | (instrument or {"card": card()})


def echeck(account: str = OK_ACCOUNT) -> dict[str, Any]:
    return {"bank": {"routing_number": ROUTING, "account_number": account}}


def token_of(url: str) -> str:
    return url.rsplit("/pay/", 1)[1].split("?")[0]


@dataclass(frozen=True)
class History:
    bank_account_id: str
    token: str
    contact_id: str
    matter_id: str
    bill_id: str
    payment_id: str

    @property
    def ids(self) -> dict[str, str]:
        return asdict(self)


class Firm:
    def __init__(self, system: System, producer: AIOKafkaProducer) -> None:
        self.system = system
        self.id = unique(system.firm_prefix + "f").replace("_", "-")
        self.producer = producer
        self.clients = {name: http_client(s.url) for name, s in system.services.items()}
        self._has_operating = False

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    # --- who calls -------------------------------------------------------------------------------------

    @property
    def staff(self) -> dict[str, str]:
        return auth_header(self.id, user_id=f"staff-of-{self.id}")

    @property
    def admin(self) -> dict[str, str]:
        return auth_header(self.id, roles=("staff", "admin"))

    @property
    def link(self) -> httpx.AsyncClient:
        return self.clients["link-service"]

    @property
    def billing(self) -> httpx.AsyncClient:
        return self.clients["billing-service"]

    @property
    def reconciliation(self) -> httpx.AsyncClient:
        return self.clients["reconciliation-service"]

    @property
    def notifier(self) -> httpx.AsyncClient:
        return self.clients["notifier"]

    # --- staff -----------------------------------------------------------------------------------------

    async def register_account(self, name: str = "IOLTA Trust", kind: str = "trust") -> str:
        """The account; the firm's first one comes with an operating account (its processing fees)."""
        if kind == "trust" and not self._has_operating:
            await self.register_account("Operating", "operating")
        self._has_operating = self._has_operating or kind == "operating"
        body = {"name": name, "kind": kind}
        response = await self.link.post("/v1/bank-accounts", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return str(response.json()["bank_account_id"])

    async def account_token(self, account_id: str | None = None) -> str:
        account_id = account_id or await self.register_account()
        response = await self.link.post(f"/v1/bank-accounts/{account_id}/payment-link", headers=self.staff)
        assert response.status_code == 200, response.text
        return token_of(response.json()["url"])

    async def receive_emails(self) -> str:
        address = f"office@{self.id}.example"
        body = {"emails": [address]}
        response = await self.notifier.put("/v1/notification-recipients", json=body, headers=self.admin)
        assert response.status_code == 200, response.text
        return address

    async def publish(self, *events: Event) -> None:
        for event in events:
            record = to_record(Envelope(event, source="/practice-management"))
            await self.producer.send_and_wait(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )

    async def open_matter(self, name: str = "Estate of Smith", number: str = "2026-0042") -> tuple[str, str]:
        """(contact_id, matter_id) of a new client and matter, once billing knows them."""
        contact_id, matter_id = f"c-{uuid.uuid4()}", f"m-{uuid.uuid4()}"
        await self.publish(
            ContactCreated(
                firm_id=self.id, contact_id=contact_id, name="Dana Client", email="dana@x.example"
            ),
            MatterOpened(
                firm_id=self.id, matter_id=matter_id, contact_id=contact_id, name=name, number=number
            ),
        )
        await eventually(lambda: self._billing_knows(matter_id))
        return contact_id, matter_id

    async def _billing_knows(self, matter_id: str) -> bool:
        found = await self.system.billing.fetchval(
            "SELECT count(*) FROM matters WHERE firm_id = $1 AND matter_id = $2", self.id, matter_id
        )
        return bool(found)

    async def issue_bill(self, amount: int = 5_000) -> str:
        contact_id, matter_id = await self.open_matter()
        body = {"matter_id": matter_id, "contact_id": contact_id, "amount": amount}
        response = await self.billing.post("/v1/bills", json=body, headers=self.staff)
        assert response.status_code == 201, response.text
        return str(response.json()["bill_id"])

    async def bill_token(self, bill_id: str, account_id: str) -> str:
        """The bill's link, once link-service has consumed BillIssued."""

        async def issued() -> httpx.Response | None:
            response = await self.link.post(
                f"/v1/bills/{bill_id}/payment-link", json={"bank_account_id": account_id}, headers=self.staff
            )
            return response if response.status_code == 201 else None

        response = await eventually(issued)
        assert isinstance(response, httpx.Response)
        return token_of(response.json()["url"])

    async def with_history(self) -> History:
        """A bank account and its link, a client with a matter, a bill, and a processed payment."""
        account_id = await self.register_account()
        token = await self.account_token(account_id)
        contact_id, matter_id = await self.open_matter()
        body = {"matter_id": matter_id, "contact_id": contact_id, "amount": 900_000}
        response = await self.billing.post("/v1/bills", json=body, headers=self.staff)
        assert response.status_code == 201, response.text
        payment_id = await self.paid(token, payment_body(1_000))
        await self.payment_in(payment_id, "ready")
        return History(account_id, token, contact_id, matter_id, response.json()["bill_id"], payment_id)

    async def payment(self, payment_id: str) -> dict[str, Any] | None:
        response = await self.reconciliation.get(f"/v1/payments/{payment_id}", headers=self.staff)
        return response.json() if response.status_code == 200 else None

    async def payment_in(self, payment_id: str, *statuses: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            payment = await self.payment(payment_id)
            return payment if payment and payment["status"] in statuses else None

        return await eventually(probe, timeout=30)  # type: ignore[return-value]

    # --- the firm's clients ----------------------------------------------------------------------------

    async def pay(self, token: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """Pay as the pay page does in a browser: `card` or `bank` details go to the processor, whose token
        is what link-service gets (an eCheck with the debit authorization accepted)."""
        return await self.post_payment(token, await self.tokenized(body), **kwargs)

    async def post_payment(self, token: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """The body exactly as given (a probe of what link-service refuses)."""
        return await self.link.post(f"/v1/pay/{token}/payments", json=body, **kwargs)

    async def tokenized(self, body: dict[str, Any]) -> dict[str, Any]:
        card, bank = body.get("card"), body.get("bank")
        if card is None and bank is None:
            return body
        details: dict[str, Any] = (
            {"type": "card", "card": card}
            if card is not None
            else {"type": "us_bank_account", "us_bank_account": {**bank, "account_holder_name": "Ada Client"}}
        )
        processor = self.system.processor
        response = await processor.http.post(
            "/v1/payment_methods", json=details, headers=processor.publishable
        )
        if response.status_code != 201:  # an invalid number or expiry: refused by the processor
            return {k: v for k, v in body.items() if k not in ("card", "bank")} | {
                "payment_method": "pm_refused"
            }
        paid = {k: v for k, v in body.items() if k not in ("card", "bank")}
        paid["payment_method"] = str(response.json()["id"])
        if bank is not None:
            paid["authorization"] = {"accepted": True}
        return paid

    async def paid(self, token: str, body: dict[str, Any]) -> str:
        response = await self.pay(token, body)
        assert response.status_code == 202, response.text
        return str(response.json()["payment_id"])

    # --- what staff receive ----------------------------------------------------------------------------

    def mail(self) -> list[EmailMessage]:
        return [m for m in self.system.sink.messages if self.id in str(m["to"])]

    async def mail_about(self, payment_id: str, subject_prefix: str) -> EmailMessage:
        """The email with that subject about that payment (its text names the payment id), once sent."""

        def arrived() -> EmailMessage | None:
            found = [
                m
                for m in self.mail()
                if " ".join(str(m["subject"]).split()).startswith(subject_prefix)
                and payment_id in text_part(m)
            ]
            return found[0] if found else None

        return await eventually(arrived, timeout=40)  # type: ignore[return-value]


def html_part(message: EmailMessage) -> str:
    return _part(message, "html")


def text_part(message: EmailMessage) -> str:
    return _part(message, "plain")


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no {subtype} part"
    return str(part.get_content())
