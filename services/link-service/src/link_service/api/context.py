"""What the routes share: the service's parts (reachable from the request), its refusals' statuses,
and the guards of the public pay endpoints (token lookup, rate limits)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request

from paylinks_events import utcnow
from paylinks_runtime.auth import StaffUser, require_role
from paylinks_runtime.errors import ApiError, RefusalStatuses
from paylinks_runtime.security_log import concerning, refused
from paylinks_runtime.service import ServiceRuntime
from paylinks_runtime.unit_of_work import Writer

from ..commands.intake import PaymentIntake
from ..commands.links import PayLinks, pause_link
from ..commands.refunds import RefundCommands
from ..config import Settings
from ..domain.pay_target import PayTarget
from ..processor import PaymentProcessor
from ..rate_limit import SlidingWindowLimiter
from ..store import links
from ..store.intake_tables import PostgresAttemptLedger, intake_writer
from ..store.refunds import PostgresRefundTables
from ..store.tables import LinkTables, link_writer
from ..tokens import LinkTokens
from .payment_input import refuse_raw_payment_details

log = structlog.get_logger(__name__)

# By code, not by exception class: a refusal replayed from the idempotency table is a plain DomainError.
REFUSALS = RefusalStatuses(
    {
        "payment_declined": 402,
        "not_found": 404,
        "unknown_bank_account": 422,
        "currency_mismatch": 422,
        "bill_closed": 409,
        "link_revoked": 410,
        "bill_paid": 410,
        "invalid_amount": 422,
        "amount_above_limit": 422,
        "amount_above_balance": 422,
        "amount_below_minimum": 422,
        "authorization_required": 422,
        "fee_account_required": 422,
        "fee_account_not_operating": 422,
        "payment_method_invalid": 422,
        "payment_method_used": 422,
        "payment_rejected": 422,
        "idempotency_key_reused": 422,
        "idempotency_key_in_flight": 409,
        "out_of_order": 409,
        "payment_pending": 503,
        "amount_exceeds_refundable": 422,
        "payment_not_refundable": 422,
        "refund_rejected": 422,
    }
)


@dataclass
class LinkServiceParts:
    settings: Settings
    runtime: ServiceRuntime
    processor: PaymentProcessor
    tokens: LinkTokens = field(init=False)
    attempts_per_link: SlidingWindowLimiter = field(init=False)
    attempts_per_link_and_client: SlidingWindowLimiter = field(init=False)
    declines_per_link: SlidingWindowLimiter = field(init=False)
    paused_until: dict[str, float] = field(init=False, default_factory=dict)  # link id -> monotonic time
    requests_per_client: SlidingWindowLimiter = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.tokens = LinkTokens(s.link_token_secret)
        window = s.rate_limit_window_seconds
        self.attempts_per_link = SlidingWindowLimiter(s.pay_attempts_per_link, window)
        self.attempts_per_link_and_client = SlidingWindowLimiter(s.pay_attempts_per_link_and_client, window)
        self.declines_per_link = SlidingWindowLimiter(
            s.link_declines_before_pause, s.link_decline_window_seconds
        )
        self.requests_per_client = SlidingWindowLimiter(
            s.pay_requests_per_client, s.rate_limit_window_seconds
        )

    @property
    def link_writer(self) -> Writer[LinkTables]:
        return link_writer(self.runtime.writer)

    @property
    def pay_links(self) -> PayLinks:
        return PayLinks(self.tokens, self.settings)

    @property
    def intake(self) -> PaymentIntake:
        return PaymentIntake(
            intake_writer(self.runtime.writer),
            PostgresAttemptLedger(self.runtime.writer),
            self.processor,
            limit=self.settings.max_payment_amount,
        )

    @property
    def refunds(self) -> RefundCommands:
        return RefundCommands(self.runtime.writer.with_tables(PostgresRefundTables), self.processor)

    def limit_client(self, request: Request) -> None:
        if not self.requests_per_client.allow(_client(request)):
            raise too_many_requests()

    def limit_attempts(self, target: PayTarget, request: Request) -> None:
        """Count a payment attempt whose body is well formed (a malformed one costs nobody anything)."""
        per_client = f"{target.link_id}|{_client(request)}"
        if not (
            self.attempts_per_link_and_client.allow(per_client)
            and self.attempts_per_link.allow(target.link_id)
        ):
            raise too_many_requests()

    def refuse_if_paused(self, target: PayTarget) -> None:
        if self.paused_until.get(target.link_id, 0.0) > time.monotonic():
            raise ApiError(
                429,
                "link_paused",
                "This payment link is paused after several declined cards. Please try again later.",
                headers={"Retry-After": str(int(self.settings.link_pause_seconds))},
            )

    async def count_decline(self, target: PayTarget, request: Request) -> None:
        """A burst of declines on one link (card testing) pauses it: the security log's alert tells the
        operators, LinkPaused on link.events the firm's staff (the notifier emails them). Once per pause: a
        decline that was in flight when the link paused neither extends the pause nor tells anyone again."""
        if self.declines_per_link.allow(target.link_id):
            return
        now = time.monotonic()
        if self.paused_until.get(target.link_id, 0.0) > now:
            return
        self.paused_until[target.link_id] = now + self.settings.link_pause_seconds
        s = self.settings
        declines = s.link_declines_before_pause + 1  # the ones the window allowed, and this one
        refused(
            "link_paused",
            link_id=target.link_id,
            firm_id=target.firm_id,
            detail=f"{declines} declines within the window",
            client=_client(request),
        )
        paused_at = utcnow()
        try:
            await pause_link(
                self.link_writer,
                target.link_id,
                declines=declines,
                window=timedelta(seconds=s.link_decline_window_seconds),
                now=paused_at,
                until=paused_at + timedelta(seconds=s.link_pause_seconds),
            )
        except Exception:  # the pause holds and the payer still gets the decline; operators see this line
            log.exception("the link's pause could not be recorded", link_id=target.link_id)

    async def resolve(self, token: str) -> PayTarget:
        """The link behind a token. Unknown and tampered tokens look alike: the same 404."""
        async with self.runtime.pool.acquire() as conn:
            target = await links.target_by_token_hash(conn, LinkTokens.lookup_hash(token))
        if target is None:
            raise ApiError(404, "not_found", "This payment link does not exist.")
        return target


def _client(request: Request) -> str:
    """The peer's address (a forwarded one only from FORWARDED_ALLOW_IPS: see the runtime's serve)."""
    return request.client.host if request.client else "unknown"


def too_many_requests() -> ApiError:
    return ApiError(
        429,
        "too_many_requests",
        "Too many attempts. Please wait a minute and try again.",
        headers={"Retry-After": "60"},
    )


def parts_of(request: Request) -> LinkServiceParts:
    found: LinkServiceParts = request.app.state.parts
    return found


async def parts(request: Request) -> LinkServiceParts:
    """async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request."""
    return parts_of(request)


Parts = Annotated[LinkServiceParts, Depends(parts)]


def _role(role: str) -> Callable[[Request], Awaitable[StaffUser]]:
    async def authenticated(request: Request) -> StaffUser:
        return await require_role(role, parts_of(request).settings.staff_keys)(request)

    return authenticated


StaffOnly = Annotated[StaffUser, Depends(_role("staff"))]
AdminOnly = Annotated[StaffUser, Depends(_role("admin"))]


async def _opened_link(token: str, request: Request) -> PayTarget:
    """Runs before the body is parsed: an unknown token is 404, and every request counts for the limits.
    The parts straight from the request, not as a dependency: every payment's request comes here, and each
    dependency costs FastAPI ~10 us to solve."""
    parts = parts_of(request)
    parts.limit_client(request)
    target = await parts.resolve(token)
    concerning(request, link_id=target.link_id, firm_id=target.firm_id)  # on its refusal lines, if any
    return target


OpenedLink = Annotated[PayTarget, Depends(_opened_link)]


async def payment_attempt(request: Request) -> None:
    """Every refusal of this route is a refused payment attempt: one security log line each (card testing
    shows as a burst of them), whatever refused it (validation, the intake, the processor, a limit). Then
    a body with card or bank numbers is refused, before it is validated (`refuse_raw_payment_details`)."""
    concerning(request, attempt=True)
    await refuse_raw_payment_details(request)
