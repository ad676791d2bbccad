"""A thin client of the four services' HTTP APIs (CONTRACT.md section 2), as staff and as a paying client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx

from paylinks_runtime.auth import issue_token
from paylinks_runtime.card_data import CVC, OK_ACCOUNT, OK_CARD, R01_ACCOUNT, R10_ACCOUNT, ROUTING

from .stack import StackConfig

# The sandbox processor's test card and accounts (CONTRACT.md section 3). They go to the processor only; the
# suites' card-data scans look for these very numbers (paylinks_runtime.card_data) everywhere else.
TEST_CARD = {"number": OK_CARD, "exp_month": 12, "exp_year": date.today().year + 3, "cvc": CVC}
ECHECK_OK = {"routing_number": ROUTING, "account_number": OK_ACCOUNT}
ECHECK_RETURNED = {"routing_number": ROUTING, "account_number": R01_ACCOUNT}
ECHECK_LATE_RETURN = {"routing_number": ROUTING, "account_number": R10_ACCOUNT}  # processed, then R10


class ApiError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}:"
            f" {response.text[:300]}"
        )
        self.response = response


class PaylinksClient:
    def __init__(self, config: StackConfig, firm_id: str, jwt_secret: str) -> None:
        self.config = config
        self.firm_id = firm_id
        token = issue_token(
            jwt_secret,
            user_id="staff-demo",
            firm_id=firm_id,
            roles=["staff", "admin"],
            ttl=timedelta(hours=2),
        )
        self.http = httpx.AsyncClient(timeout=15.0, headers={"Authorization": f"Bearer {token}"})
        self.public = httpx.AsyncClient(timeout=15.0)  # the client paying: no staff token

    async def close(self) -> None:
        await self.http.aclose()
        await self.public.aclose()

    def _url(self, service: str, path: str) -> str:
        return f"{self.config.url(service)}{path}"

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        expect: int | tuple[int, ...] = (200, 201),
        public: bool = False,
        **kwargs: Any,
    ) -> Any:
        client = self.public if public else self.http
        response = await client.request(method, self._url(service, path), **kwargs)
        allowed = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in allowed:
            raise ApiError(response)
        return (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response.content
        )

    async def raw(
        self, method: str, service: str, path: str, *, public: bool = False, **kwargs: Any
    ) -> httpx.Response:
        client = self.public if public else self.http
        return await client.request(method, self._url(service, path), **kwargs)

    # --- staff steps (eventually consistent ones retry until the other service has caught up) -------------

    async def register_account(self, name: str, kind: str) -> str:
        account = await self.call(
            "POST", "link-service", "/v1/bank-accounts", expect=201, json={"name": name, "kind": kind}
        )
        return str(account["bank_account_id"])

    async def account_link(self, bank_account_id: str) -> str:
        link = await self.call("POST", "link-service", f"/v1/bank-accounts/{bank_account_id}/payment-link")
        return str(link["url"])

    async def issue_bill(self, matter_id: str, contact_id: str, amount: int) -> Any:
        """Issue a bill, waiting until billing has seen the matter and contact on practice.events."""
        body = {"matter_id": matter_id, "contact_id": contact_id, "amount": amount}
        return await until(
            lambda: self.call("POST", "billing-service", "/v1/bills", expect=201, json=body),
            what="billing knows the matter",
        )

    async def bill_link(self, bill_id: str, bank_account_id: str) -> str:
        """A bill's payment link, waiting until link-service has seen the bill on billing.events."""
        link = await until(
            lambda: self.call(
                "POST",
                "link-service",
                f"/v1/bills/{bill_id}/payment-link",
                expect=201,
                json={"bank_account_id": bank_account_id},
            ),
            what="link-service knows the bill",
        )
        return str(link["url"])

    async def bill(self, bill_id: str) -> Any:
        return await self.call("GET", "billing-service", f"/v1/bills/{bill_id}")

    async def payment(self, payment_id: str) -> Any:
        return await self.call("GET", "reconciliation-service", f"/v1/payments/{payment_id}")

    async def dispute_of(self, payment_id: str) -> Any:
        """The payment's dispute as reconciliation shows it ({"status": None} before there is one)."""
        return (await self.payment(payment_id)).get("dispute") or {"status": None}

    async def returned_of(self, payment_id: str) -> Any:
        return (await self.payment(payment_id)).get("returned") or {"reason": None}

    async def pay_page(self, token: str) -> Any:
        return await self.call("GET", "link-service", f"/v1/pay/{token}", public=True)

    async def when(
        self, read: Callable[[], Awaitable[Any]], field: str, value: Any, *, timeout: float = 60.0
    ) -> Any:
        """Read until `field` of the result equals `value`; return that result."""

        async def probe() -> Any:
            result = await read()
            return result if result[field] == value else None

        return await until(probe, timeout=timeout, what=f"{field} = {value!r}")

    # --- the client's side -------------------------------------------------------------------------------

    async def pay(
        self,
        token: str,
        amount: int,
        payer: str,
        *,
        method: str = "card",
        reference: str | None = None,
        via_qr: bool = False,
        bank: dict[str, str] | None = None,
        card: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Pay as the pay page does in a browser: the card or bank details go to the processor (its URL and
        publishable key come with the link), and only its token to link-service."""
        if method == "card":
            payment_method = await self.tokenize(token, {"type": "card", "card": card or TEST_CARD})
        else:
            account = {**(bank or ECHECK_OK), "account_holder_name": payer}
            payment_method = await self.tokenize(
                token, {"type": "us_bank_account", "us_bank_account": account}
            )
        body: dict[str, Any] = {
            "amount": amount,
            "method": method,
            "reference": reference,
            "payer": {"name": payer, "email": f"{payer.split()[0].lower()}@example.com"},
            "payment_method": payment_method,
        }
        if method == "echeck":
            body["authorization"] = {"accepted": True}  # the payer ticked the debit authorization shown
        return await self.post_payment(token, body, via_qr=via_qr, idempotency_key=idempotency_key)

    async def tokenize(self, token: str, details: dict[str, Any]) -> str:
        """The browser's call to the processor, with the publishable key the pay link hands out."""
        processor = (await self.pay_page(token))["processor"]
        response = await self.public.post(
            f"{processor['url']}/v1/payment_methods",
            json=details,
            headers={"Authorization": f"Bearer {processor['publishable_key']}"},
        )
        if response.status_code != 201:
            raise ApiError(response)
        return str(response.json()["id"])

    async def post_payment(
        self, token: str, body: dict[str, Any], *, via_qr: bool = False, idempotency_key: str | None = None
    ) -> httpx.Response:
        path = f"/v1/pay/{token}/payments" + ("?via=qr" if via_qr else "")
        return await self.raw(
            "POST",
            "link-service",
            path,
            public=True,
            json=body,
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )


def token_of(url: str) -> str:
    """The capability token at the end of a pay link."""
    return url.split("/pay/", 1)[1].split("?", 1)[0]


async def until(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, what: str = "condition"
) -> Any:
    """Retry an eventually consistent read or write until it gives a truthy result."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await probe()
            if last:
                return last
        except ApiError as exc:
            last = exc
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{what} not reached within {timeout}s (last: {last})")
