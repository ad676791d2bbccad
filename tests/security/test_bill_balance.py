"""A bill is paid once (issue #18, high): payments accepted and not yet failed count against its balance due
in link-service's own intake, one after another and in parallel; a payment right after a void is refused."""

from __future__ import annotations

import asyncio

from .firm import Firm, payment_body
from .system import System


async def _pay_view(firm: Firm, token: str) -> dict[str, object]:
    response = await firm.link.get(f"/v1/pay/{token}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_bills_full_balance_is_taken_once_and_a_reload_shows_nothing_due(
    system: System, firm: Firm
) -> None:
    # Protection: the intake reserves an accepted payment's amount on the bill's row (bills.pending) under its
    # lock, and PayTarget.check_payable compares with the balance minus what is pending.
    account_id = await firm.register_account()
    bill_id = await firm.issue_bill(amount=50_000)
    token = await firm.bill_token(bill_id, account_id)
    first = await firm.pay(token, payment_body(50_000))
    assert first.status_code == 202, first.text
    assert (await _pay_view(firm, token))["amount_due"] == 0  # the probe's reload showed "$500.00 due"
    for _ in range(2):  # the probe's second and third full payments
        again = await firm.pay(token, payment_body(50_000))
        assert again.status_code == 422, again.text
        assert again.json()["error"]["code"] == "amount_above_balance"
    charged = await system.processor.charges(first.json()["payment_id"])
    assert [charge["amount"] for charge in charged] == [50_000]


async def test_parallel_payers_of_one_bill_never_exceed_its_balance(system: System, firm: Firm) -> None:
    # Protection: the same reservation, taken under the bill's row lock (SELECT ... FOR UPDATE), so payers
    # racing on one bill are decided one after another.
    account_id = await firm.register_account()
    bill_id = await firm.issue_bill(amount=10_000)
    token = await firm.bill_token(bill_id, account_id)
    bodies = [await firm.tokenized(payment_body(3_000)) for _ in range(8)]
    answers = await asyncio.gather(*(firm.post_payment(token, body) for body in bodies))
    accepted = [r.json()["payment_id"] for r in answers if r.status_code == 202]
    refused = {r.json()["error"]["code"] for r in answers if r.status_code != 202}
    assert len(accepted) * 3_000 <= 10_000
    assert len(accepted) == 3, [r.text for r in answers]
    assert refused == {"amount_above_balance"}
    assert (await _pay_view(firm, token))["amount_due"] == 1_000


async def test_a_payment_right_after_the_void_is_refused(system: System, firm: Firm) -> None:
    # Protection: the void answered by billing is the void link-service refuses payments by (the probe
    # paid 35 ms after the void's 200 and was accepted): billing answers once link-service says it applied
    # the void (BillLinksClosed), not once the links billing has read of are revoked (this link, issued just
    # before the void, had not reached billing in a loaded full chaos run, and its payment was accepted).
    account_id = await firm.register_account()
    bill_id = await firm.issue_bill(amount=10_000)
    token = await firm.bill_token(bill_id, account_id)
    body = await firm.tokenized(payment_body(10_000))
    voided = await firm.billing.post(f"/v1/bills/{bill_id}/void", headers=firm.staff)
    assert voided.status_code == 200, voided.text
    assert voided.json()["links_closed"] is True, voided.text  # false: link-service slower than the wait
    attempt = await firm.post_payment(token, body)
    assert attempt.status_code == 410, attempt.text
    assert attempt.json()["error"]["code"] == "link_revoked"
